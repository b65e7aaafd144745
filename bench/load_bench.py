"""Load benchmark: the operator process holding N objects, some of them gating canaries in a crowded namespace.

How to run (from the repository root, after ``make setup``; needs ``prometheus`` on PATH)::

    .venv/bin/python bench/load_bench.py                          # 2,500 and 10,000 objects, 3 runs each
    .venv/bin/python bench/load_bench.py --objects 2500 5000 --runs 3
    .venv/bin/python bench/load_bench.py --source OLD_TREE --label baseline   # the same load on other code

``--source`` names a checkout whose ``operator/`` directory is put first on the operator's ``PYTHONPATH`` (the
code before a change, e.g. ``git archive HEAD operator | tar -x -C OLD_TREE``); ``--label`` names the result
file, ``bench/results/load-<label>.json``. When ``bench/results/load-baseline.json`` exists, the table shows
each median as a ratio to it.

What one run does (every process separate): the emulated Kubernetes API in its own process (the wrapper below
bounds kmock's request log, as in ``operator_bench.py``, and counts requests by verb and resource into a file);
a real Prometheus scraping a synthetic exporter (no rules loaded: every object evaluates to NoData, the cycle's
queries and the gates' reads are all real); namespace ``gated`` holds ``--deployments`` Deployments (opted in to
every gate) and ``--replicasets`` ReplicaSets owned by them, and ``--gated`` SLOs each gating one Deployment;
namespace ``bench`` holds the other SLOs. ``kpi-operator run`` (evaluation interval ``--interval``) starts on
the empty API and the objects are created in steps, one per ``--objects`` count (ascending, one process for all
steps: the setup is the slow part); at each step, once one cycle has covered every object and one more has
settled, ``--cycles`` cycles are measured from the operator's /metrics and the emulator's counts:

- wall seconds per cycle (``kpi_operator_evaluation_duration_seconds`` sum / count);
- Prometheus queries per cycle (``kpi_operator_prometheus_queries_total``);
- API writes per cycle (POST, PUT, PATCH, DELETE the emulator served: status patches, Events, rules);
- Deployment and ReplicaSet lists per cycle (the gates' reads);
- peak RSS of the operator (``VmHWM`` of /proc/PID/status, the high-water mark so far) at the end of the step,
  and RSS (``VmRSS``) then.

It also measures in-process, with ``tracemalloc``, what the operator's store holds per object (an ``Entry``
built the way the reconcile handler builds it, for an ungated and a gated SLO).

Median of ``--runs`` runs. Numbers, not pass/fail. Machine load matters: the JSON records the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, AsyncIterator, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402

from operator_bench import PYTHON, Proc, free_port, http_ok, poll, scrape, slo  # noqa: E402
from kpi_operator_devtools.prometheus_server import PrometheusServer  # noqa: E402
from kpi_operator_devtools.synthetic_exporter import Exporter  # noqa: E402

RESULTS = ROOT / "bench" / "results"

# The emulator, with kmock's request log bounded (see operator_bench.py: unbounded, each request costs O(requests
# so far)) and the requests it served counted by verb and resource, written to a file at most twice a second.
EMULATOR_WRAPPER = '''
import collections
import json
import sys
import time

from kpi_operator_devtools import kube_emulator

counts_file = sys.argv.pop(1)
served = collections.Counter()
written = [0.0]
_serve = kube_emulator.KubeEmulator.__call__


def dump():
    with open(counts_file + ".tmp", "w") as out:
        json.dump(dict(served), out)
    import os
    os.replace(counts_file + ".tmp", counts_file)


async def counted(self, raw_request):
    if len(self._requests) > 4:
        del self._requests[:-4]
    _, _, plural, _, name, sub = self._parse_path(raw_request.path)
    watch = raw_request.query.get("watch", "").lower() in ("true", "1")
    verb = "WATCH" if watch else "LIST" if raw_request.method == "GET" and plural and not name else raw_request.method
    served[f"{verb} {plural or 'discovery'}{'/' + sub if sub else ''}"] += 1
    try:
        return await _serve(self, raw_request)
    finally:
        if time.monotonic() - written[0] > 0.5:
            written[0] = time.monotonic()
            dump()


kube_emulator.KubeEmulator.__call__ = counted
try:
    kube_emulator.main(sys.argv[1:])
finally:
    dump()
'''

WRITES = ("POST", "PUT", "PATCH", "DELETE")


@contextlib.asynccontextmanager
async def emulator(tmp: Path) -> AsyncIterator[tuple[str, Path, Path]]:
    kubeconfig, counts, wrapper = tmp / "kubeconfig", tmp / "requests.json", tmp / "emulator_wrapper.py"
    wrapper.write_text(EMULATOR_WRAPPER)
    proc = Proc([PYTHON, str(wrapper), str(counts), "--port", "0", "--crds", str(ROOT / "crds"), "--kubeconfig-out", str(kubeconfig)],
                tmp / "emulator.log")
    try:
        def ready() -> Optional[str]:
            proc.check()
            return next((line.split()[1] for line in proc.text().splitlines() if line.startswith("READY ")), None)

        yield await poll(ready, 60, "the emulator"), kubeconfig, counts
    finally:
        await proc.stop()


def read_counts(path: Path) -> dict[str, int]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def start_operator(kubeconfig: Path, prom_url: str, port: int, interval: float, source: Optional[Path], log: Path) -> Proc:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_OPERATOR_")}
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source / "operator"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return Proc([PYTHON, "-m", "kpi_operator.cli", "run", "--kubeconfig", str(kubeconfig), "--prometheus-url", prom_url,
                 "--evaluation-interval", str(interval), "--metrics-port", str(port), "--metrics-host", "127.0.0.1"], log, env=env)


def gated_slo(index: int) -> dict[str, Any]:
    body = slo(f"gated-{index:04d}", "gated", service=f"svc-{index:04d}")
    body["spec"]["gate"] = {"selector": {"matchLabels": {"app": f"svc-{index:04d}"}}, "action": "rollback", "failureLimit": 1}
    return body


def deployment(index: int) -> dict[str, Any]:
    labels = {"app": f"svc-{index:04d}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"svc-{index:04d}", "namespace": "gated", "labels": labels, "annotations": {"kpi.dev/gated-by": "*"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "app:v1"}]}}},
    }


def replicaset(owner: dict[str, Any], revision: int) -> dict[str, Any]:
    meta = owner["metadata"]
    template = json.loads(json.dumps(owner["spec"]["template"]))
    template["spec"]["containers"][0]["image"] = f"app:v{revision}"
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{revision:04d}",
            "namespace": "gated",
            "labels": meta["labels"],
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"], "uid": meta["uid"], "controller": True}],
        },
        "spec": {"replicas": 0, "selector": {"matchLabels": meta["labels"]}, "template": template},
    }


async def post_all(session: aiohttp.ClientSession, url: str, bodies: list[dict[str, Any]], concurrency: int = 32) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            async with session.post(url, json=body) as response:
                if response.status != 201:
                    raise RuntimeError(f"create {body['metadata']['name']}: {response.status} {await response.text()}")
                created: dict[str, Any] = await response.json()
                return created

    return list(await asyncio.gather(*(one(b) for b in bodies)))


async def one_run(args: argparse.Namespace, prom: PrometheusServer, tmp: Path) -> list[dict[str, Any]]:
    """One operator process, stepped through ``args.objects`` (ascending): created up to each count, then
    measured there. One setup serves every count; the peak RSS of a step is the high-water mark so far."""
    gated = min(args.gated, min(args.objects))
    steps = []
    async with emulator(tmp) as (base, kubeconfig, counts), aiohttp.ClientSession() as session:
        port = free_port()
        proc = start_operator(kubeconfig, prom.url, port, args.interval, args.source, tmp / "operator.log")
        try:
            async def up() -> bool:
                proc.check()
                return await http_ok(session, f"http://127.0.0.1:{port}/healthz")

            await poll(up, 60, "the operator to serve /healthz")
            started = time.monotonic()
            created = await post_all(session, f"{base}/apis/apps/v1/namespaces/gated/deployments", [deployment(i) for i in range(args.deployments)])
            per = max(1, args.replicasets // max(1, args.deployments))
            await post_all(session, f"{base}/apis/apps/v1/namespaces/gated/replicasets",
                           [replicaset(d, r + 1) for d in created for r in range(per)])
            await post_all(session, f"{base}/apis/kpi.dev/v1alpha1/namespaces/gated/slos", [gated_slo(i) for i in range(gated)])
            held = gated
            for objects in sorted(args.objects):
                await post_all(session, f"{base}/apis/kpi.dev/v1alpha1/namespaces/bench/slos",
                               [slo(f"slo-{i:05d}", "bench") for i in range(held - gated, objects - gated)])
                held = objects
                steps.append(await measure(args, session, port, counts, proc, objects, gated, started))
                started = time.monotonic()
        finally:
            code = await proc.stop()
    for step in steps:
        step["exit_code"] = code
    return steps


async def measure(args: argparse.Namespace, session: aiohttp.ClientSession, port: int, counts: Path, proc: Proc, objects: int, gated: int,
                  started: float) -> dict[str, Any]:
    async def covered() -> bool:
        proc.check()
        return (await scrape(session, port)).get("kpi_operator_objects", 0) >= objects

    await poll(covered, 1800, f"one evaluation cycle over all {objects} objects", 1.0)
    ready_seconds = time.monotonic() - started
    # One more cycle first: the first full one writes every new status once, which is not the steady state.
    first = (await scrape(session, port))["kpi_operator_evaluation_cycles_total"]
    await poll(lambda: _cycles_at_least(session, port, first + 1), 600, "a settling cycle", 0.2)
    before, requests_before = await scrape(session, port), read_counts(counts)
    start = before["kpi_operator_evaluation_cycles_total"]
    await poll(lambda: _cycles_at_least(session, port, start + args.cycles), 600 * args.cycles, f"{args.cycles} cycles", 0.2)
    after = await scrape(session, port)
    await asyncio.sleep(0.6)  # the emulator's counts file is at most half a second old
    requests_after = read_counts(counts)
    peak, rss = proc_memory(proc.pid)
    n = after["kpi_operator_evaluation_cycles_total"] - before["kpi_operator_evaluation_cycles_total"]
    timed = after["kpi_operator_evaluation_duration_seconds_count"] - before["kpi_operator_evaluation_duration_seconds_count"]
    served = {k: requests_after.get(k, 0) - requests_before.get(k, 0) for k in requests_after}
    return {
        "objects": objects,
        "gated": gated,
        "ready_seconds": round(ready_seconds, 1),
        "cycles": int(n),
        "wall_seconds_per_cycle": round((after["kpi_operator_evaluation_duration_seconds_sum"] - before["kpi_operator_evaluation_duration_seconds_sum"]) / timed, 3),
        "queries_per_cycle": round((after["kpi_operator_prometheus_queries_total"] - before["kpi_operator_prometheus_queries_total"]) / n, 2),
        "api_writes_per_cycle": round(sum(v for k, v in served.items() if k.split()[0] in WRITES) / n, 1),
        "deployment_lists_per_cycle": round(served.get("LIST deployments", 0) / n, 1),
        "replicaset_lists_per_cycle": round(served.get("LIST replicasets", 0) / n, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_mb": round(rss, 1),
    }


def proc_memory(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024.0, int(fields["VmRSS"].split()[0]) / 1024.0


async def _cycles_at_least(session: aiohttp.ClientSession, port: int, target: float) -> bool:
    return (await scrape(session, port))["kpi_operator_evaluation_cycles_total"] >= target


def store_bytes_per_object(source: Optional[Path], count: int = 500) -> dict[str, Any]:
    """Bytes ``tracemalloc`` sees allocated for ``count`` store entries, built as the reconcile handler builds
    them, per entry: run in a child process so ``--source`` picks the code."""
    code = f'''
import json, os, sys, tracemalloc
sys.path.insert(0, {str(ROOT / "bench")!r})
from load_bench import gated_slo
from operator_bench import slo
# operator_bench puts this tree's operator/ first on sys.path: put PYTHONPATH's (``--source``) back before it.
sys.path[:0] = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
for module in [m for m in sys.modules if m == "kpi_operator" or m.startswith("kpi_operator.")]:
    del sys.modules[module]
from kpi_operator.reconcile import next_serving, plan_reconcile
from kpi_operator.runtime.state import Entry, Store
from kpi_operator.runtime.config import OperatorConfig


def body(b, i):
    b["metadata"]["uid"] = "uid-%d" % i
    return b


def measure(make):
    store = Store()
    bodies = [body(make(i), i) for i in range({count})]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for raw in bodies:
        plan = plan_reconcile(raw, OperatorConfig().rule_schema, "2026-01-01T00:00:00Z")
        serving = next_serving(plan, None)
        meta = raw["metadata"]
        entry = Entry(kind="SLO", namespace=meta["namespace"], name=meta["name"], uid=meta["uid"], obj=serving.obj,
                      desired_rule=serving.rule, invalid=serving.invalid)
        entry.status = type(plan.status).from_wire(None).merged(plan.status)
        store.put(entry)
        del plan, serving, entry
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / {count}


print(json.dumps({{"ungated": round(measure(lambda i: slo("slo-%05d" % i, "bench"))), "gated": round(measure(gated_slo))}}))
'''
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source / "operator"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    import subprocess

    out = subprocess.run([PYTHON, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {"store_bytes_per_object": json.loads(out.strip().splitlines()[-1])}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("ready_seconds", "wall_seconds_per_cycle", "queries_per_cycle", "api_writes_per_cycle", "deployment_lists_per_cycle",
            "replicaset_lists_per_cycle", "peak_rss_mb", "rss_mb")
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in keys}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    exporter = Exporter(service="bench").start()
    exporter.set_traffic("stable", rps=50, error_ratio=0.01)
    prom = PrometheusServer([exporter.target]).start()
    results: dict[str, Any] = {}
    try:
        await asyncio.to_thread(prom.wait_for_series, 'http_requests_total{service="bench"}', timeout=30)
        by_count: dict[int, list[dict[str, Any]]] = {}
        for run in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="kpi-load-") as tmp:
                steps = await one_run(args, prom, Path(tmp))
            for step in steps:
                by_count.setdefault(step["objects"], []).append(step)
                print(f"  {step['objects']} objects, run {run + 1}: {step}", flush=True)
            results = {str(n): {"median": summarize(runs), "runs": runs} for n, runs in sorted(by_count.items())}
            partial = RESULTS / f"load-{args.label}.partial.json"  # a long run stopped later keeps what it measured
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        prom.stop()
        exporter.stop()
    return {
        "benchmark": "load",
        "label": args.label,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "load_at_end": os.getloadavg()},
        "setup": {"gated": args.gated, "deployments": args.deployments, "replicasets": args.replicasets, "interval": args.interval,
                  "cycles": args.cycles, "runs": args.runs},
        **store_bytes_per_object(args.source),
        "results": results,
    }


def report(data: dict[str, Any], baseline: Optional[dict[str, Any]]) -> None:
    setup = data["setup"]
    print(f"\nload ({data['label']}): {setup['gated']} gated SLOs over {setup['deployments']} Deployments / {setup['replicasets']} ReplicaSets "
          f"in one namespace, the rest ungated; median of {setup['runs']} runs, {setup['cycles']} cycles each")
    stores = data["store_bytes_per_object"]
    base_stores = (baseline or {}).get("store_bytes_per_object") or {}
    for kind, value in stores.items():
        ratio = f"  {value / base_stores[kind]:.2f}x baseline" if base_stores.get(kind) else ""
        print(f"    store bytes per {kind} SLO (tracemalloc): {value}{ratio}")
    header = ["objects", "wall s/cycle", "queries/cycle", "writes/cycle", "Deploy lists/cycle", "RS lists/cycle", "peak RSS MB", "RSS MB"]
    keys = ["wall_seconds_per_cycle", "queries_per_cycle", "api_writes_per_cycle", "deployment_lists_per_cycle", "replicaset_lists_per_cycle", "peak_rss_mb", "rss_mb"]
    print("    " + " | ".join(header))
    for objects, result in data["results"].items():
        base = ((baseline or {}).get("results") or {}).get(objects, {}).get("median")
        cells = []
        for key in keys:
            value = result["median"][key]
            ratio = f" ({value / base[key]:.2f}x)" if base and base.get(key) else ""
            cells.append(f"{value}{ratio}")
        print(f"    {objects} | " + " | ".join(cells))
    if baseline:
        print("    (ratios: this run / bench/results/load-baseline.json)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[2500, 10000], help="objects held, one measurement each")
    parser.add_argument("--runs", type=int, default=3, help="runs per object count; the median is reported")
    parser.add_argument("--cycles", type=int, default=3, help="evaluation cycles measured per run")
    parser.add_argument("--gated", type=int, default=200, help="gated SLOs, in namespace gated")
    parser.add_argument("--deployments", type=int, default=300, help="Deployments in namespace gated")
    parser.add_argument("--replicasets", type=int, default=3000, help="ReplicaSets in namespace gated")
    parser.add_argument("--interval", type=float, default=10.0, help="the operator's evaluation interval, seconds")
    parser.add_argument("--source", type=Path, default=None, help="a tree whose operator/ is run instead of this one")
    parser.add_argument("--label", default="current", help="names the result file bench/results/load-<label>.json")
    arguments = parser.parse_args()
    data = asyncio.run(main(arguments))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"load-{arguments.label}.json"
    out.write_text(json.dumps(data, indent=2) + "\n")
    baseline_file = RESULTS / "load-baseline.json"
    report(data, json.loads(baseline_file.read_text()) if baseline_file.exists() and arguments.label != "baseline" else None)
    print(f"\nwritten: {out.relative_to(ROOT)}")
