"""Canary gate benchmark: time from error injection to the canary Deployment being rolled back.

How to run (from the repository root, after ``make setup``; needs ``prometheus`` on PATH)::

    .venv/bin/python bench/gate_bench.py              # 3 runs per gate interval, about 1.5 minutes
    .venv/bin/python bench/gate_bench.py --runs 5 --intervals 5 15 --history 30

It prints a table and writes ``bench/results/gate.json``. Numbers, not pass/fail.

What it measures: a real Prometheus (1 s scrape, 1 s rule evaluation) scrapes a synthetic exporter whose canary
track serves 20 requests/s without errors; the operator runs in-process against the emulated Kubernetes API
(``tests/support``'s ``running_operator``, with the generated rules synced into Prometheus as prometheus-operator
would), with a canary Deployment at revision 2 (ReplicaSets for revisions 1 and 2) and an SLO (99.9% over 30d,
default windows) gating it: ``action: rollback``, ``failureLimit: 3``. After ``--history`` seconds of healthy
canary traffic (plus a random 0..interval wait, so the injection falls anywhere in the gate's cycle), the
canary's error ratio goes 0 -> 0.5; the time is taken from that instant to the Deployment's template being
revision 1's. Gate interval (``evaluation_interval``) 5 s and 15 s; ``--runs`` runs each, all runs concurrent
(each its own emulator, operator and service name; one Prometheus); the median is reported.

The bound, from the burn-rate math. Requests at a constant rate; error ratio 0 for h seconds (the canary's
healthy history in Prometheus), then r = 0.5 for d seconds. Over a window W the error ratio is

    ratio_W(d) = r * min(d, W) / min(h + d, W)        (non-decreasing in d)

A page pair (long L, short S, factor f) holds when ratio_S > t and ratio_L > t, t = f * (1 - objective). Each
window crosses t at the smallest d with ratio_W(d) > t:

    d_W = t * h / (r - t)      while h + d_W < W   (the window still holds the whole history)
    d_W = t * W / r            otherwise           (the window is full)

and the pair at max(d_S, d_L); the gate fails on any page pair, so the page condition holds after
T_page = min over page pairs of max(d_S, d_L). For 99.9% / 30d: t = 14.4 x 0.001 = 0.0144 (1h/5m) and
t = 6 x 0.001 = 0.006 (6h/30m). For the 1h window alone (the brief's example) while h + d < 3600:
0.5 d / (h + d) > 0.0144  <=>  d > 0.0144 h / 0.4856 = 0.02965 h. With h = 30 s: 1h/5m needs 0.89 s, 6h/30m
0.36 s, so T_page = 0.36 s. (With a long healthy history, h >= 1h: 1h/5m needs 103.7 s (the 1h window is full)
and 6h/30m 0.01215 h, i.e. 43.7 s at h = 1h; from h = 6h on, 6h/30m needs 259.2 s and 1h/5m's 103.7 s decides.)

    bound = T_page + one scrape (1 s) + one rule evaluation (1 s) + failureLimit x interval

The first failing gate evaluation comes within one interval of the condition being visible, the act on the
failureLimit-th; target: every median within bound + one interval. For comparison, Flagger documents the time
to roll back a failing canary as ``interval x threshold`` (https://docs.flagger.app/usage/deployment-strategies:
"the time it takes for a canary to be rolled back when the metrics or webhook checks are failing"); at the same
settings (interval 5 s / 15 s, threshold 3) that is 15 s / 45 s, not counting its metric query's own window.
Also recorded per run: when the page condition first held in Prometheus' recorded series (a range query at 1 s
steps over the SLO's ``slo:error_ratio:rate*`` series), to check T_page + scrape + evaluation against the math.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT / "tests")]

from kpi_operator_devtools.prometheus_server import PrometheusServer  # noqa: E402
from kpi_operator_devtools.synthetic_exporter import Exporter  # noqa: E402
from kpi_operator.api.durations import parse_duration_ms  # noqa: E402
from kpi_operator.api.loading import parse_object  # noqa: E402
from kpi_operator_devtools.rule_sync import RuleSync  # noqa: E402
from kpi_operator.rules.windows import window_pairs  # noqa: E402
import kopf  # noqa: E402

from kpi_operator.runtime.config import OperatorConfig  # noqa: E402
from kpi_operator.runtime.handlers import operator_memo, register  # noqa: E402
from kpi_operator.runtime.state import Runtime  # noqa: E402
from support.kopf_runner import run_operator, wait_for  # noqa: E402
from support.kube_emulator import KubeEmulator, load_crds  # noqa: E402
from support.operator_env import CRDS  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "gate.json"
RPS = 20.0
ERROR_RATIO = 0.5
OBJECTIVE = 99.9
FAILURE_LIMIT = 3
SCRAPE_SECONDS = 1.0
RULE_EVAL_SECONDS = 1.0


# ----------------------------------------------------------------------------------------------------- math


def window_crossing(window_s: float, threshold: float, ratio: float, history_s: float) -> float:
    """Seconds of errors at ``ratio`` after ``history_s`` healthy seconds until the window's error ratio exceeds
    ``threshold`` (see the module docstring)."""
    if ratio <= threshold:
        return float("inf")
    d = threshold * history_s / (ratio - threshold)
    if history_s + d < window_s:
        return d
    return threshold * window_s / ratio


def page_time(slo_body: dict[str, Any], ratio: float, history_s: float) -> tuple[float, list[dict[str, Any]]]:
    """T_page and, per page pair, the seconds each window needs; pairs and factors as the operator computes them."""
    slo, problems = parse_object(slo_body)
    assert slo is not None, problems
    budget = (100 - slo.spec.objective) / 100
    pairs = []
    for pair in window_pairs(slo)["page"]:
        threshold = pair.factor * budget
        short = window_crossing(parse_duration_ms(pair.short) / 1000, threshold, ratio, history_s)
        long = window_crossing(parse_duration_ms(pair.long) / 1000, threshold, ratio, history_s)
        pairs.append({"pair": f"{pair.long}/{pair.short}", "factor": round(pair.factor, 4), "threshold": round(threshold, 6),
                      "short_s": round(short, 3), "long_s": round(long, 3), "pair_s": round(max(short, long), 3)})
    return min(p["pair_s"] for p in pairs), pairs


# -------------------------------------------------------------------------------------------------- objects


def template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "checkout", "track": "canary"}}, "spec": {"containers": [{"name": "checkout", "image": image}]}}


def make_rollout(emu: KubeEmulator, namespace: str, name: str = "checkout-canary") -> dict[str, Any]:
    """A canary Deployment rolled out twice (v1 then v2; the emulated Deployment controller makes the ReplicaSets
    and revisions); it opts in to every gate of its namespace (``kpi.dev/gated-by: *``), each run having its own
    namespace."""
    emu.create({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "checkout", "track": "canary"},
                     "annotations": {"kpi.dev/gated-by": "*"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "checkout", "track": "canary"}}, "template": template("checkout:v1")},
    })
    emu.patch_object("deployments", namespace, name, {"spec": {"template": template("checkout:v2")}})
    deployment: dict[str, Any] = emu.get("deployments", namespace, name)
    return deployment


def gated_slo(service: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": f"{service}-canary", "namespace": namespace},
        "spec": {
            "service": service,
            "owner": "team-bench",
            "objective": OBJECTIVE,
            "window": "30d",
            "indicator": {"ratio": {
                "errors": f'sum(rate(http_requests_total{{service="{service}",track="canary",code=~"5.."}}[{{{{.window}}}}]))',
                "total": f'sum(rate(http_requests_total{{service="{service}",track="canary"}}[{{{{.window}}}}]))',
            }},
            "gate": {"selector": {"matchLabels": {"app": "checkout", "track": "canary"}}, "action": "rollback", "failureLimit": FAILURE_LIMIT},
        },
    }


# ------------------------------------------------------------------------------------------------------ run


async def one_run(emu: KubeEmulator, sync: RuleSync, kubeconfig: Path, exporter: Exporter, prom: PrometheusServer,
                  interval: float, run: int, history: float) -> dict[str, Any]:
    """One injection and rollback, in a namespace of its own on the shared emulator, by an operator of its own
    watching only that namespace (as in a cluster where several teams run canaries at once)."""
    service = namespace = f"gate{int(interval)}r{run}"
    exporter.set_traffic("canary", rps=RPS, error_ratio=0.0, service=service)
    traffic_from = time.time()
    body = gated_slo(service, namespace)
    name = body["metadata"]["name"]
    make_rollout(emu, namespace)
    # As tests/support's running_operator, but with the gate's interval (running_operator fixes it at 1 s).
    runtime = Runtime(OperatorConfig(prometheus_url=prom.url, evaluation_interval=interval, prometheus_timeout=2.0,
                                     kubeconfig=str(kubeconfig), metrics_port=-1, namespaces=[namespace]))
    registry = kopf.OperatorRegistry()
    register(registry, runtime.config)

    def gate() -> dict[str, Any]:
        return ((emu.get("slos", namespace, name) or {}).get("status") or {}).get("gate") or {}

    async with run_operator(registry, emu, namespaces=[namespace], memo=operator_memo(runtime)) as operator:
        emu.create(body)
        await wait_for(lambda: f"{namespace}__{name}" in sync.synced, timeout=60, interval=0.1, operator=operator)
        await wait_for(lambda: (gate().get("verdict") or {}).get("verdict") == "pass", timeout=120, interval=0.1, operator=operator,
                       message=f"{service}: a passing verdict before the injection")
        # The healthy history, then a random phase within the gate's cycle.
        await asyncio.sleep(max(0.0, traffic_from + history - time.time()) + random.uniform(0, interval))
        assert gate().get("state") == "Armed" and not gate().get("consecutiveFailures"), gate()
        exporter.set_traffic("canary", rps=RPS, error_ratio=ERROR_RATIO, service=service)
        injected = time.time()
        await wait_for(lambda: emu.get("deployments", namespace, "checkout-canary")["spec"]["template"] == template("checkout:v1"),
                       timeout=30 + 4 * FAILURE_LIMIT * interval, interval=0.02, operator=operator, message=f"{service}: the rollback")
        acted = time.time()
        await wait_for(lambda: gate().get("state") == "Acted", timeout=30, interval=0.05, operator=operator, message=f"{service}: status.gate Acted")
        status = gate()
    first_sample = await asyncio.to_thread(first_sample_time, prom, service, traffic_from - 5, injected)
    history_s = injected - first_sample if first_sample is not None else injected - traffic_from
    seen = await asyncio.to_thread(page_condition_seen, prom, body, injected, acted)
    t_page, pairs = page_time(body, ERROR_RATIO, history_s)
    bound = t_page + SCRAPE_SECONDS + RULE_EVAL_SECONDS + FAILURE_LIMIT * interval
    return {
        "interval_s": interval,
        "service": service,
        "healthy_history_s": round(history_s, 2),
        "latency_s": round(acted - injected, 2),
        "page_condition_in_prometheus_s": None if seen is None else round(seen - injected, 2),
        "t_page_s": round(t_page, 3),
        "page_pairs": pairs,
        "bound_s": round(bound, 2),
        "target_s": round(bound + interval, 2),
        "consecutive_failures": status.get("consecutiveFailures"),
        "last_action": status.get("lastAction"),
    }


def first_sample_time(prom: PrometheusServer, service: str, start: float, end: float) -> Optional[float]:
    """When Prometheus first had the canary's request counter (the start of its healthy history)."""
    result = prom._api("/api/v1/query_range", {
        "query": f'http_requests_total{{service="{service}",track="canary",code="200"}}',
        "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1s"})
    times = [float(t) for series in result.get("result", []) for t, _ in series.get("values", [])]
    return min(times) if times else None


def page_condition_seen(prom: PrometheusServer, body: dict[str, Any], start: float, end: float) -> Optional[float]:
    """The first 1 s step after ``start`` at which a page pair held in the recorded ratios (what the gate reads)."""
    slo, _ = parse_object(body)
    assert slo is not None
    budget = (100 - slo.spec.objective) / 100
    selector = f'{{slo_namespace="{body["metadata"]["namespace"]}",slo_name="{body["metadata"]["name"]}"}}'
    terms = [
        f"(slo:error_ratio:rate{pair.short}{selector} > {pair.factor * budget!r} and on(slo_namespace, slo_name) "
        f"slo:error_ratio:rate{pair.long}{selector} > {pair.factor * budget!r})"
        for pair in window_pairs(slo)["page"]
    ]
    result = prom._api("/api/v1/query_range", {"query": " or ".join(terms), "start": f"{start:.3f}", "end": f"{end + 1:.3f}", "step": "1s"})
    times = [float(t) for series in result.get("result", []) for t, _ in series.get("values", [])]
    return min(times) if times else None


async def main(args: argparse.Namespace) -> dict[str, Any]:
    import logging
    import tempfile

    logging.basicConfig(level=logging.ERROR)  # the operators' own logs (each act is a warning) stay out of the table

    exporter = Exporter(service="unused").start()
    prom = PrometheusServer([exporter.target], scrape_interval=f"{SCRAPE_SECONDS:g}s", evaluation_interval=f"{RULE_EVAL_SECONDS:g}s").start()
    try:
        with tempfile.TemporaryDirectory(prefix="kpi-gate-bench-") as tmp:
            # One emulated API and one rule sync for all runs (kmock's emulators cannot be stopped out of order in
            # one process); each run has its own namespace, service name and operator.
            async with KubeEmulator(crds=load_crds(CRDS), deployment_controller=True) as emu, RuleSync(emu, prom) as sync:
                kubeconfig = emu.write_kubeconfig(Path(tmp) / "kubeconfig")
                jobs = [one_run(emu, sync, kubeconfig, exporter, prom, float(interval), run, args.history)
                        for interval in args.intervals for run in range(args.runs)]
                results = await asyncio.gather(*jobs)
    finally:
        prom.stop()
        exporter.stop()
    summary = []
    for interval in args.intervals:
        runs = [r for r in results if r["interval_s"] == float(interval)]
        latency = statistics.median(r["latency_s"] for r in runs)
        bound = statistics.median(r["bound_s"] for r in runs)
        seen = [r["page_condition_in_prometheus_s"] for r in runs if r["page_condition_in_prometheus_s"] is not None]
        summary.append({
            "interval_s": float(interval),
            "failure_limit": FAILURE_LIMIT,
            "runs": len(runs),
            "latency_median_s": round(latency, 2),
            "latency_min_s": min(r["latency_s"] for r in runs),
            "latency_max_s": max(r["latency_s"] for r in runs),
            "healthy_history_median_s": round(statistics.median(r["healthy_history_s"] for r in runs), 1),
            "t_page_median_s": round(statistics.median(r["t_page_s"] for r in runs), 3),
            "page_condition_in_prometheus_median_s": round(statistics.median(seen), 2) if seen else None,
            "bound_s": round(bound, 2),
            "target_s": round(bound + float(interval), 2),
            "within_target": latency <= bound + float(interval),
            "flagger_documented_rollback_s": float(interval) * FAILURE_LIMIT,
        })
    return {
        "benchmark": "gate",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "settings": {"scrape_s": SCRAPE_SECONDS, "rule_evaluation_s": RULE_EVAL_SECONDS, "objective": OBJECTIVE, "window": "30d",
                     "rps": RPS, "injected_error_ratio": ERROR_RATIO, "failure_limit": FAILURE_LIMIT, "history_s": args.history},
        "summary": summary,
        "runs": results,
    }


def report(data: dict[str, Any]) -> None:
    print()
    print(f"Canary gate: error ratio 0 -> {ERROR_RATIO} after ~{data['settings']['history_s']:g} s of healthy traffic; "
          f"SLO {OBJECTIVE}%/30d, failureLimit {FAILURE_LIMIT}; Prometheus 1 s scrape, 1 s rules; median of runs")
    print("interval  runs  injection->rollback (min..max)   T_page  page cond. seen  bound  target  Flagger interval x threshold")
    for s in data["summary"]:
        seen = "-" if s["page_condition_in_prometheus_median_s"] is None else f"{s['page_condition_in_prometheus_median_s']:.2f} s"
        print(f"{s['interval_s']:6.0f} s  {s['runs']:4d}  {s['latency_median_s']:7.2f} s ({s['latency_min_s']:.2f}..{s['latency_max_s']:.2f})"
              f"  {s['t_page_median_s']:6.2f} s  {seen:>15}  {s['bound_s']:5.1f} s {s['target_s']:5.1f} s  {s['flagger_documented_rollback_s']:5.0f} s"
              f"  {'within target' if s['within_target'] else 'OVER TARGET'}")
    print("bound = T_page + 1 s scrape + 1 s rule evaluation + failureLimit x interval; target = bound + one interval")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per gate interval (concurrent); the median is reported")
    parser.add_argument("--intervals", type=float, nargs="+", default=[5.0, 15.0], help="gate (evaluation) intervals in seconds")
    parser.add_argument("--history", type=float, default=30.0, help="seconds of healthy canary traffic before the injection")
    arguments = parser.parse_args()
    data = asyncio.run(main(arguments))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    report(data)
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}")
