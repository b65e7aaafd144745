"""Generate benchmark: ``kpi-operator generate`` over one file of 10,000 SLOs and 2,000 KPIs, per rule schema.

How to run (from the repository root, after ``make setup``)::

    .venv/bin/python bench/generate_bench.py                 # 5 runs per schema (about 3 minutes on 2 cores)
    .venv/bin/python bench/generate_bench.py --runs 3 --slos 1000 --kpis 200

It prints a table and writes ``bench/results/generate.json``. Numbers, not pass/fail: the targets (under 20 s
and 500 MB per run) are printed next to them.

What it measures: the input file is written once into a temp dir (half the SLOs ratio indicators, half the
query form and half counter selectors; half latency indicators, classic and native histograms; KPIs with every
op), then ``kpi-operator generate -f FILE --rule-schema SCHEMA`` runs as a fresh subprocess ``--runs`` times per
schema, stdout to /dev/null. Per run: wall time (from spawn to exit) and the child's peak RSS (``ru_maxrss`` of
the rusage ``wait4`` returns for that one child). The table shows the median of the runs, and how many
recording and alerting rules one SLO (ratio, latency) and one KPI become in each schema. CPU time (user +
system, from the same rusage) is recorded too: it moves less than wall time when other work shares the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from kpi_operator.api import parse_object  # noqa: E402
from kpi_operator.rules import generate_groups  # noqa: E402

SCHEMAS = ("native", "sloth")
TARGET_SECONDS = 20.0
TARGET_MB = 500.0
PERIODS = ("30d", "28d", "7d", "14d")
OBJECTIVES = (99.9, 99.5, 99.95, 99.0, 95.0)


def slo(index: int) -> dict[str, Any]:
    """SLO number ``index``: even ones ratio, odd ones latency; each form in a quarter of them."""
    service = f"service-{index % 500}"
    namespace = f"team-{index % 50}"
    selector = f'{{service="{service}",env="prod"}}'
    if index % 2 == 0:
        name = f"{service}-availability-{index}"
        if index % 4 == 0:
            indicator = {
                "ratio": {
                    "errors": f'sum(rate(http_requests_total{{service="{service}",code=~"5.."}}[{{{{.window}}}}]))',
                    "total": f'sum(rate(http_requests_total{{service="{service}"}}[{{{{.window}}}}]))',
                }
            }
        else:
            indicator = {
                "ratio": {
                    "errorsMetric": f'http_requests_total{{service="{service}",code=~"5.."}}',
                    "totalMetric": f'http_requests_total{{service="{service}"}}',
                }
            }
    else:
        name = f"{service}-latency-{index}"
        indicator = {
            "latency": {
                "histogram": "http_request_duration_seconds",
                "selector": selector,
                "threshold": (0.1, 0.25, 0.5, 1.0)[index % 4],
                "native": index % 4 == 3,
            }
        }
    spec: dict[str, Any] = {
        "service": service,
        "owner": f"team-{index % 50}",
        "description": f"SLO {index} of the benchmark",
        "objective": OBJECTIVES[index % len(OBJECTIVES)],
        "window": PERIODS[index % len(PERIODS)],
        "indicator": indicator,
        "labels": {"tier": ("gold", "silver", "bronze")[index % 3], "cost_center": f"cc-{index % 20}"},
    }
    if index % 10 == 0:
        spec["alerting"] = {"noData": {"for": "10m"}, "pageAlert": {"labels": {"route": "pager"}}}
    return {"apiVersion": "kpi.dev/v1alpha1", "kind": "SLO", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def kpi(index: int) -> dict[str, Any]:
    op = (">=", ">", "<=", "<")[index % 4]
    higher = op.startswith(">")
    spec: dict[str, Any] = {
        "owner": f"team-{index % 50}",
        "description": f"KPI {index} of the benchmark",
        "query": f'sum(rate(orders_total{{shop="{index % 100}"}}[{{{{.window}}}}])) / sum(rate(visits_total{{shop="{index % 100}"}}[{{{{.window}}}}]))',
        "window": "5m",
        "unit": "ratio",
        "target": {"op": op, "value": 0.05 if higher else 0.5},
        "thresholds": {"warning": 0.04, "critical": 0.03} if higher else {"warning": 0.6, "critical": 0.8},
        "for": "10m",
        "labels": {"shop": str(index % 100)},
    }
    return {"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "metadata": {"name": f"kpi-{index}", "namespace": f"team-{index % 50}"}, "spec": spec}


def write_input(path: Path, slos: int, kpis: int) -> int:
    documents = [slo(i) for i in range(slos)] + [kpi(i) for i in range(kpis)]
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with path.open("w", encoding="utf-8") as out:
        yaml.dump_all(documents, out, Dumper=dumper, sort_keys=False, explicit_start=True, width=200)
    return path.stat().st_size


def rules_per_object(schema: str) -> dict[str, dict[str, int]]:
    """Recording and alerting rules that one object of each kind becomes (the benchmark's own specs)."""
    samples = {"slo_ratio": slo(2), "slo_ratio_selector": slo(6), "slo_latency": slo(1), "slo_with_no_data": slo(10), "kpi": kpi(0)}
    counts = {}
    for label, body in samples.items():
        obj, problems = parse_object(body)
        assert not problems, problems
        rules = [rule for group in generate_groups(obj, schema) for rule in group["rules"]]
        counts[label] = {
            "recording": sum(1 for rule in rules if "record" in rule),
            "alerting": sum(1 for rule in rules if "alert" in rule),
        }
    return counts


def command() -> list[str]:
    installed = ROOT / ".venv" / "bin" / "kpi-operator"
    if installed.exists():
        return [str(installed)]
    found = shutil.which("kpi-operator")
    return [found] if found else [sys.executable, "-m", "kpi_operator.cli"]


def run_once(args: list[str]) -> dict[str, float]:
    """One run in a fresh child: wall seconds and that child's peak RSS in MB (from its own rusage)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=devnull, stderr=errors, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace")[-2000:]
            raise SystemExit(f"{' '.join(args)} exited {proc.returncode}:\n{message}")
    # ru_maxrss is in KiB on Linux. CPU time (user + system) moves less than wall time when the machine is busy.
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=10_000)
    parser.add_argument("--kpis", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "generate.json")
    parser.add_argument("--write-input", type=Path, metavar="FILE", help="only write the input file to FILE (to profile with it)")
    options = parser.parse_args()
    if options.write_input:
        size = write_input(options.write_input, options.slos, options.kpis)
        print(f"wrote {options.write_input}: {options.slos} SLOs + {options.kpis} KPIs, {size / 1e6:.1f} MB")
        return 0

    results: dict[str, Any] = {
        "benchmark": "generate",
        "input": {"slos": options.slos, "kpis": options.kpis},
        "targets": {"wall_s": TARGET_SECONDS, "peak_rss_mb": TARGET_MB},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),  # other work on the machine slows the runs; said, not hidden
        },
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "schemas": {},
    }
    with tempfile.TemporaryDirectory(prefix="kpi-bench-") as tmp:
        source = Path(tmp) / "objects.yaml"
        size = write_input(source, options.slos, options.kpis)
        results["input"]["bytes"] = size
        print(f"input: {options.slos} SLOs + {options.kpis} KPIs, {size / 1e6:.1f} MB ({source})", flush=True)
        for schema in SCHEMAS:
            args = [*command(), "generate", "-f", str(source), "--rule-schema", schema]
            runs = []
            for number in range(1, options.runs + 1):
                runs.append(run_once(args))
                run = runs[-1]
                print(f"  {schema} run {number}: {run['wall_s']:.2f} s (CPU {run['cpu_s']:.2f} s), {run['peak_rss_mb']:.0f} MB", flush=True)
            results["schemas"][schema] = {
                "runs": runs,
                "median_wall_s": statistics.median(r["wall_s"] for r in runs),
                "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
                "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
                "rules_per_object": rules_per_object(schema),
            }

    print()
    print(f"kpi-operator generate, {options.slos} SLOs + {options.kpis} KPIs in one file, median of {options.runs} runs")
    print(f"{'schema':<8} {'wall s':>8} {'CPU s':>8} {'target':>8} {'peak RSS MB':>12} {'target':>8}   rules per object (recording + alerting)")
    for schema, data in results["schemas"].items():
        wall, cpu, rss = data["median_wall_s"], data["median_cpu_s"], data["median_peak_rss_mb"]
        per = ", ".join(f"{label} {c['recording']}+{c['alerting']}" for label, c in data["rules_per_object"].items())
        print(
            f"{schema:<8} {wall:>8.2f} {cpu:>8.2f} {'<' + format(TARGET_SECONDS, 'g'):>8} {rss:>12.0f} {'<' + format(TARGET_MB, 'g'):>8}   {per}"
        )
        flags = [name for name, over in (("time", wall >= TARGET_SECONDS), ("memory", rss >= TARGET_MB)) if over]
        if flags:
            print(f"{'':<8} over target: {', '.join(flags)}")
    results["machine"]["load_average_at_end"] = os.getloadavg()
    load = results["machine"]["load_average_at_start"][0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"note: load average was {load:.1f} on {os.cpu_count()} CPUs when the benchmark started; times include that contention")
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {options.output.relative_to(ROOT) if options.output.is_relative_to(ROOT) else options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
