"""Operator benchmark: reconcile throughput and memory against the kopf floor, and the evaluation loop's cost.

How to run (from the repository root, after ``make setup``; needs ``prometheus`` on PATH, as the e2e tests)::

    .venv/bin/python bench/operator_bench.py            # 3 runs each, both parts (4-5 minutes on 2 cores)
    .venv/bin/python bench/operator_bench.py --runs 5 --objects 1000 --parts a     # only (a)

It prints a table and writes ``bench/results/operator.json``. Numbers, not pass/fail: the targets are printed
next to them.

What it measures (every process separate, so memory and CPU are per process):

(a) Reconcile at scale. The emulated Kubernetes API runs in its own process
    (``python -m kpi_operator_devtools.kube_emulator``); N SLOs (default 1,000) are created at once through its
    HTTP API (aiohttp, 64 requests in flight). Two operators are timed, each as a subprocess on a fresh emulator:

    - ours: ``kpi-operator run`` (evaluation interval 5 s, against a real Prometheus that has no rules loaded, so
      every SLO evaluates to NoData and its status is written once);
    - the floor: ``kopf run`` of a script with do-nothing ``on.create`` / ``on.resume`` handlers for ``slos``
      (and the same kubeconfig login): what kopf itself costs to watch and handle the same objects.

    Times are from the first create request: ``handled`` = every SLO carries kopf's
    ``last-handled-configuration`` annotation (its create handlers finished); ``rules`` = every PrometheusRule
    exists (ours only). Ours is also left to finish one evaluation cycle over all N objects (the
    ``kpi_operator_objects`` gauge sums to N) before its peak RSS (``VmHWM`` of /proc/PID/status) is read, just
    before SIGTERM; the floor's is read once all are handled. Median of ``--runs`` runs each. Ratios:
    ours' ``rules`` time / floor's ``handled`` time, and peak RSS ours / floor. Target: <= 3x.

(b) Evaluation cycle. For 10 and for N SLOs, ours runs with a 2 s evaluation interval against a real Prometheus
    (1 s scrape and rule evaluation) that scrapes a synthetic exporter and has every generated rule loaded (as
    prometheus-operator would load them), so each cycle reads real recorded series for every SLO. Once every SLO
    has a state from data, over ``--cycles`` cycles (deltas of the operator's own /metrics): Prometheus queries
    per cycle (``kpi_operator_prometheus_queries_total`` / ``kpi_operator_evaluation_cycles_total``; target: the
    same for 10 and N, at most 5), status patches per cycle, wall time per cycle
    (``kpi_operator_evaluation_duration_seconds`` sum / count) and the process' CPU time per cycle (utime +
    stime from /proc/PID/stat, all threads; the operator does nothing else in the steady state).

The emulator is started through a small wrapper (``EMULATOR_WRAPPER`` below) that bounds kmock's request log:
unbounded, every request costs the emulator O(requests served so far) and at 1,000 objects the bench would
measure the emulator (100 SLOs: 47 s of emulator CPU unbounded, 1.6 s bounded). The wrapper also counts the
requests each operator makes, reported per SLO. Machine load matters: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

import aiohttp  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from kpi_operator_devtools.prometheus_server import PrometheusServer  # noqa: E402
from kpi_operator_devtools.synthetic_exporter import Exporter  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "operator.json"
HANDLED = "kopf.zalando.org/last-handled-configuration"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PYTHON = sys.executable
KPI_OPERATOR = str(Path(sys.executable).parent / "kpi-operator")

FLOOR_SCRIPT = '''
"""The framework floor: kopf watching and handling SLOs with handlers that do nothing."""
import kopf


@kopf.on.login()
def login(**kwargs):
    return kopf.login_with_kubeconfig(**kwargs)


@kopf.on.resume("kpi.dev", "v1alpha1", "slos")
@kopf.on.create("kpi.dev", "v1alpha1", "slos")
async def noop(**_):
    pass
'''


# ------------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Await ``predicate()`` (sync or async) until truthy; raise at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g}s for {what}")
        await asyncio.sleep(interval)


class Proc:
    """A child process in its own session, output to a file; stopped by its own pid."""

    def __init__(self, argv: list[str], log: Path, env: Optional[dict[str, str]] = None):
        self.log = log
        self._out = open(log, "wb")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                                      cwd=ROOT, env=env, start_new_session=True)
        self.pid = self.popen.pid
        self.requests: dict[str, int] = {}  # the emulator's count of requests served, read at its exit

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def check(self) -> None:
        if self.popen.poll() is not None:
            tail = "\n".join(self.text().splitlines()[-30:])
            raise RuntimeError(f"{self.log.stem} exited with {self.popen.returncode}:\n{tail}")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
        raise RuntimeError("no VmHWM")

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15 of stat)

    async def stop(self, timeout: float = 30.0) -> Optional[int]:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                await poll(lambda: self.popen.poll() is not None, timeout, f"{self.log.stem} to exit", 0.05)
            except TimeoutError:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()
        self._out.close()
        return self.popen.returncode


# kmock 0.8 keeps every request it served and, for each new request, walks that whole log applying its filters
# (``request in payload._source`` in ``RawHandler._handle``): each request costs O(requests so far), a run costs
# O(requests^2), and at 1,000 objects the emulator, not the operator, is what gets measured (profiled: 100 SLOs
# under ``kpi-operator run`` cost the emulator ~47 s of CPU, 95% of it in that walk). The bench therefore starts
# the emulator through this wrapper, which keeps only the last ``limit`` requests in the log. Safe: kmock matches a
# request against its reactions synchronously right after appending it (the request is then the newest entry),
# and nothing in the emulator's serving reads older entries. ``BENCH_EMULATOR_LOG_LIMIT=0`` runs it unpatched.
EMULATOR_WRAPPER = '''
import collections
import json
import sys

from kpi_operator_devtools import kube_emulator

limit = int(sys.argv.pop(1))
served = collections.Counter()  # requests by verb and resource, printed at exit: what each operator asks of the API
_serve = kube_emulator.KubeEmulator.__call__


async def bounded_log(self, raw_request):
    if limit > 0 and len(self._requests) > limit:
        del self._requests[:-limit]
    _, _, plural, _, name, sub = self._parse_path(raw_request.path)
    watch = raw_request.query.get("watch", "").lower() in ("true", "1")
    verb = "WATCH" if watch else "LIST" if raw_request.method == "GET" and plural and not name else raw_request.method
    served[f"{verb} {plural or 'discovery'}{'/' + sub if sub else ''}"] += 1
    return await _serve(self, raw_request)


kube_emulator.KubeEmulator.__call__ = bounded_log
try:
    kube_emulator.main(sys.argv[1:])
finally:
    print("REQUESTS " + json.dumps(dict(served), sort_keys=True), flush=True)
'''
EMULATOR_LOG_LIMIT = int(os.environ.get("BENCH_EMULATOR_LOG_LIMIT", "4"))


@contextlib.asynccontextmanager
async def emulator(tmp: Path) -> AsyncIterator[tuple[str, Path, Proc]]:
    kubeconfig = tmp / "kubeconfig"
    wrapper = tmp / "emulator_wrapper.py"
    wrapper.write_text(EMULATOR_WRAPPER)
    profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE_EMULATOR"]] if os.environ.get("BENCH_PROFILE_EMULATOR") else []
    proc = Proc([PYTHON, *profile, str(wrapper), str(EMULATOR_LOG_LIMIT), "--port", "0", "--crds", str(ROOT / "crds"),
                 "--kubeconfig-out", str(kubeconfig)], tmp / "emulator.log")
    try:
        def ready() -> Optional[str]:
            proc.check()
            for line in proc.text().splitlines():
                if line.startswith("READY "):
                    return line.split()[1]
            return None

        url = await poll(ready, 60, "the emulator")
        yield url, kubeconfig, proc
    finally:
        await proc.stop()
        for line in proc.text().splitlines():
            if line.startswith("REQUESTS "):
                proc.requests = json.loads(line[len("REQUESTS "):])


def start_ours(kubeconfig: Path, prom_url: str, port: int, interval: float, log: Path) -> Proc:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_OPERATOR_")}
    profile = [PYTHON, "-m", "cProfile", "-o", os.environ["BENCH_PROFILE_OURS"], "-m", "kpi_operator.cli"] if os.environ.get("BENCH_PROFILE_OURS") else [KPI_OPERATOR]
    return Proc([*profile, "run", "--kubeconfig", str(kubeconfig), "--prometheus-url", prom_url,
                 "--evaluation-interval", str(interval), "--metrics-port", str(port), "--metrics-host", "127.0.0.1", *os.environ.get("BENCH_EXTRA", "").split()],
                log, env=env)


def start_floor(kubeconfig: Path, port: int, tmp: Path) -> Proc:
    script = tmp / "noop_operator.py"
    script.write_text(FLOOR_SCRIPT)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    return Proc([PYTHON, "-m", "kopf", "run", "--standalone", "--all-namespaces",
                 f"--liveness=http://127.0.0.1:{port}/healthz", str(script)], tmp / "floor.log", env=env)


async def http_ok(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return False


async def scrape(session: aiohttp.ClientSession, port: int) -> dict[str, float]:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


# ------------------------------------------------------------------------------------------------ objects


def slo(name: str, namespace: str, service: str = "bench") -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": name, "namespace": namespace, "labels": {"release": "prometheus"}},
        "spec": {
            "service": service,
            "owner": "team-bench",
            "objective": 99.9,
            "indicator": {
                "ratio": {
                    "errors": f'sum(rate(http_requests_total{{service="{service}",track="stable",code=~"5.."}}[{{{{.window}}}}]))',
                    "total": f'sum(rate(http_requests_total{{service="{service}",track="stable"}}[{{{{.window}}}}]))',
                }
            },
        },
    }


async def create_all(session: aiohttp.ClientSession, base: str, namespace: str, count: int, concurrency: int = 64) -> float:
    """Create ``count`` SLOs concurrently; returns the seconds it took (all answered 201)."""
    gate = asyncio.Semaphore(concurrency)
    url = f"{base}/apis/kpi.dev/v1alpha1/namespaces/{namespace}/slos"
    started = time.monotonic()

    async def one(i: int) -> None:
        async with gate:
            async with session.post(url, json=slo(f"slo-{i:05d}", namespace)) as response:
                if response.status != 201:
                    raise RuntimeError(f"create slo-{i:05d}: {response.status} {await response.text()}")

    await asyncio.gather(*(one(i) for i in range(count)))
    return time.monotonic() - started


class Watch:
    """Names of objects of one resource that satisfy ``predicate``, from a list and then a watch stream; the
    monotonic time at which ``count`` of them were seen."""

    def __init__(self, session: aiohttp.ClientSession, base: str, path: str, predicate: Callable[[dict[str, Any]], bool], count: int):
        self.session, self.base, self.path, self.predicate, self.count = session, base, path, predicate, count
        self.names: set[str] = set()
        self.done_at: Optional[float] = None
        self.started = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    def _see(self, obj: dict[str, Any]) -> None:
        if self.predicate(obj):
            self.names.add(obj["metadata"]["name"])
            if self.done_at is None and len(self.names) >= self.count:
                self.done_at = time.monotonic()

    async def _run(self) -> None:
        async with self.session.get(f"{self.base}{self.path}") as response:
            listing = await response.json()
        for item in listing.get("items", []):
            self._see(item)
        rv = listing["metadata"]["resourceVersion"]
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.session.get(f"{self.base}{self.path}?watch=true&resourceVersion={rv}", timeout=timeout) as response:
            self.started.set()
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        event = json.loads(line)
                        if event.get("type") in ("ADDED", "MODIFIED"):
                            self._see(event["object"])

    async def wait(self, timeout: float) -> float:
        await poll(lambda: self.done_at is not None or (self.task.done() and self.task.result()), timeout,
                   f"{self.count} objects at {self.path} (seen {len(self.names)})", 0.05)
        return self.done_at  # type: ignore[return-value]

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def handled(obj: dict[str, Any]) -> bool:
    return HANDLED in ((obj.get("metadata") or {}).get("annotations") or {})


# ---------------------------------------------------------------------------------------------------- (a)


async def run_scale(kind: str, count: int, prom: PrometheusServer, tmp: Path) -> dict[str, Any]:
    """One run of (a) for ``ours`` or ``floor`` on a fresh emulator."""
    namespace = "bench"
    async with emulator(tmp) as (base, kubeconfig, api), aiohttp.ClientSession() as session:
        port = free_port()
        proc = start_ours(kubeconfig, prom.url, port, 5.0, tmp / "ours.log") if kind == "ours" else start_floor(kubeconfig, port, tmp)
        try:
            health = f"http://127.0.0.1:{port}/healthz"

            async def up() -> bool:
                proc.check()
                return await http_ok(session, health)

            await poll(up, 60, f"{kind} to serve /healthz")
            watches = [Watch(session, base, f"/apis/kpi.dev/v1alpha1/namespaces/{namespace}/slos", handled, count)]
            if kind == "ours":
                watches.append(Watch(session, base, f"/apis/monitoring.coreos.com/v1/namespaces/{namespace}/prometheusrules", lambda o: True, count))
            for watch in watches:
                await poll(lambda: watch.started.is_set(), 30, "the watch to start")
            cpu_before, api_cpu_before = proc.cpu_seconds(), api.cpu_seconds()
            t0 = time.monotonic()
            create_seconds = await create_all(session, base, namespace, count)
            result: dict[str, Any] = {"create_seconds": round(create_seconds, 2)}
            handled_at = await watches[0].wait(600)
            result["handled_seconds"] = round(handled_at - t0, 2)
            if kind == "ours":
                rules_at = await watches[1].wait(600)
                result["rules_seconds"] = round(rules_at - t0, 2)

                async def evaluated_all() -> bool:
                    proc.check()
                    metrics = await scrape(session, port)
                    return metrics.get("kpi_operator_objects", 0) >= count

                await poll(evaluated_all, 120, "one evaluation cycle over all objects", 0.5)
                result["evaluated_seconds"] = round(time.monotonic() - t0, 2)
            for watch in watches:
                await watch.close()
            result["peak_rss_mb"] = round(proc.peak_rss_mb(), 1)
            result["cpu_seconds"] = round(proc.cpu_seconds() - cpu_before, 2)
            result["emulator_cpu_seconds"] = round(api.cpu_seconds() - api_cpu_before, 2)
        finally:
            code = await proc.stop()
    result["exit_code"] = code
    # What the operator asked of the API (the bench's own creates, lists and watches left out), per object.
    ours_requests = {k: v for k, v in api.requests.items() if k != "POST slos" and not k.startswith(("LIST", "WATCH"))}
    result["api_requests_per_object"] = round(sum(ours_requests.values()) / count, 2)
    result["api_requests"] = api.requests
    return result


# ---------------------------------------------------------------------------------------------------- (b)


async def run_cycles(count: int, prom: PrometheusServer, cycles: int, tmp: Path) -> dict[str, Any]:
    namespace = f"cycles{count}"
    async with emulator(tmp) as (base, kubeconfig, api), aiohttp.ClientSession() as session:
        port = free_port()
        proc = start_ours(kubeconfig, prom.url, port, 2.0, tmp / "ours-cycles.log")
        rule_file = f"bench-{namespace}"
        try:
            async def up() -> bool:
                proc.check()
                return await http_ok(session, f"http://127.0.0.1:{port}/healthz")

            await poll(up, 60, "the operator to serve /healthz")
            rules = Watch(session, base, f"/apis/monitoring.coreos.com/v1/namespaces/{namespace}/prometheusrules", lambda o: True, count)
            await poll(lambda: rules.started.is_set(), 30, "the watch to start")
            await create_all(session, base, namespace, count)
            await rules.wait(600)
            await rules.close()

            # prometheus-operator's part: every PrometheusRule's groups into Prometheus (one file, one reload).
            async with session.get(f"{base}/apis/monitoring.coreos.com/v1/namespaces/{namespace}/prometheusrules") as response:
                items = (await response.json())["items"]
            groups = [group for item in items for group in item["spec"]["groups"]]
            started = time.monotonic()
            await asyncio.to_thread(prom.set_rule_groups, groups, rule_file, timeout=300.0)
            load_seconds = time.monotonic() - started

            # The gauge's samples by state: NoData must have gone to zero for every SLO.
            async def steady() -> bool:
                proc.check()
                async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                    text = await response.text()
                by_state: dict[str, float] = {}
                for family in text_string_to_metric_families(text):
                    if family.name == "kpi_operator_objects":
                        for sample in family.samples:
                            by_state[sample.labels["state"]] = by_state.get(sample.labels["state"], 0) + sample.value
                return sum(by_state.values()) >= count and by_state.get("NoData", 0) == 0 and by_state.get("Unknown", 0) == 0

            await poll(steady, 180, f"all {count} SLOs evaluated from data", 0.5)
            before, cpu_before = await scrape(session, port), proc.cpu_seconds()
            first = before["kpi_operator_evaluation_cycles_total"]
            await poll(lambda: _cycles_at_least(session, port, first + cycles), 60 + 10 * cycles, f"{cycles} cycles", 0.2)
            after, cpu_after = await scrape(session, port), proc.cpu_seconds()
        finally:
            code = await proc.stop()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(prom.remove_rules, rule_file, timeout=120.0)
    n = after["kpi_operator_evaluation_cycles_total"] - before["kpi_operator_evaluation_cycles_total"]
    timed = after["kpi_operator_evaluation_duration_seconds_count"] - before["kpi_operator_evaluation_duration_seconds_count"]
    return {
        "slos": count,
        "rule_groups_loaded": len(groups),
        "rule_load_seconds": round(load_seconds, 1),
        "cycles": int(n),
        "queries_per_cycle": (after["kpi_operator_prometheus_queries_total"] - before["kpi_operator_prometheus_queries_total"]) / n,
        "status_patches_per_cycle": (after.get("kpi_operator_status_patches_total", 0) - before.get("kpi_operator_status_patches_total", 0)) / n,
        "wall_seconds_per_cycle": round((after["kpi_operator_evaluation_duration_seconds_sum"] - before["kpi_operator_evaluation_duration_seconds_sum"]) / timed, 4),
        "cpu_seconds_per_cycle": round((cpu_after - cpu_before) / n, 4),
        "exit_code": code,
    }


async def _cycles_at_least(session: aiohttp.ClientSession, port: int, target: float) -> bool:
    return (await scrape(session, port))["kpi_operator_evaluation_cycles_total"] >= target


# --------------------------------------------------------------------------------------------------- main


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    exporter = Exporter(service="bench").start()
    exporter.set_traffic("stable", rps=50, error_ratio=0.01)
    prom = PrometheusServer([exporter.target]).start()
    try:
        await asyncio.to_thread(prom.wait_for_series, 'http_requests_total{service="bench"}', timeout=30)
        scale: dict[str, list[dict[str, Any]]] = {"ours": [], "floor": []}
        for run in range(args.runs if "a" in args.parts else 0):
            for kind in ("floor", "ours"):  # alternated, so drift on the machine hits both alike
                with tempfile.TemporaryDirectory(prefix=f"kpi-bench-{kind}-") as tmp:
                    result = await run_scale(kind, args.objects, prom, Path(tmp))
                scale[kind].append(result)
                print(f"  (a) run {run + 1} {kind}: {result}", flush=True)
        cycle_results = []
        for count in (10, args.objects) if "b" in args.parts else ():
            with tempfile.TemporaryDirectory(prefix="kpi-bench-cycles-") as tmp:
                result = await run_cycles(count, prom, args.cycles, Path(tmp))
            cycle_results.append(result)
            print(f"  (b) {count} SLOs: {result}", flush=True)
    finally:
        prom.stop()
        exporter.stop()

    ours, floor = scale["ours"], scale["floor"]
    data: dict[str, Any] = {
        "benchmark": "operator",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "emulator_request_log_limit": EMULATOR_LOG_LIMIT,
        "cycles": {"results": cycle_results, "target_queries_per_cycle": "the same for 10 and N, at most 5"},
    }
    if not ours:
        return data
    summary = {
        "objects": args.objects,
        "runs": args.runs,
        "ours_rules_seconds_median": median([r["rules_seconds"] for r in ours]),
        "ours_handled_seconds_median": median([r["handled_seconds"] for r in ours]),
        "floor_handled_seconds_median": median([r["handled_seconds"] for r in floor]),
        "ours_peak_rss_mb_median": median([r["peak_rss_mb"] for r in ours]),
        "floor_peak_rss_mb_median": median([r["peak_rss_mb"] for r in floor]),
        "ours_cpu_seconds_median": median([r["cpu_seconds"] for r in ours]),
        "floor_cpu_seconds_median": median([r["cpu_seconds"] for r in floor]),
        "ours_emulator_cpu_seconds_median": median([r["emulator_cpu_seconds"] for r in ours]),
        "floor_emulator_cpu_seconds_median": median([r["emulator_cpu_seconds"] for r in floor]),
        "ours_api_requests_per_object_median": median([r["api_requests_per_object"] for r in ours]),
        "floor_api_requests_per_object_median": median([r["api_requests_per_object"] for r in floor]),
    }
    summary["time_ratio"] = round(summary["ours_rules_seconds_median"] / summary["floor_handled_seconds_median"], 2)
    summary["rss_ratio"] = round(summary["ours_peak_rss_mb_median"] / summary["floor_peak_rss_mb_median"], 2)
    data["scale"] = {"summary": summary, "runs": scale, "target_ratio": 3.0}
    return data


def report(data: dict[str, Any]) -> None:
    if "scale" in data:
        report_scale(data["scale"]["summary"])
    if data["cycles"]["results"]:
        report_cycles(data["cycles"]["results"])


def report_scale(s: dict[str, Any]) -> None:
    n = s["objects"]
    print()
    print(f"(a) {n} SLOs created at once; median of {s['runs']} runs                 ours      floor    ratio (target <= 3)")
    print(f"    time to every PrometheusRule (ours) / every SLO handled (floor) {s['ours_rules_seconds_median']:7.2f} s {s['floor_handled_seconds_median']:7.2f} s   {s['time_ratio']:.2f}x")
    print(f"    time to every SLO handled by kopf                               {s['ours_handled_seconds_median']:7.2f} s {s['floor_handled_seconds_median']:7.2f} s   {s['ours_handled_seconds_median'] / s['floor_handled_seconds_median']:.2f}x")
    print(f"    peak RSS (VmHWM)                                                {s['ours_peak_rss_mb_median']:7.1f} MB {s['floor_peak_rss_mb_median']:6.1f} MB  {s['rss_ratio']:.2f}x")
    print(f"    CPU time of the process over the run                            {s['ours_cpu_seconds_median']:7.2f} s {s['floor_cpu_seconds_median']:7.2f} s")
    print(f"    CPU time of the emulated API over the run                       {s['ours_emulator_cpu_seconds_median']:7.2f} s {s['floor_emulator_cpu_seconds_median']:7.2f} s")
    print(f"    API requests per SLO (writes and reads; lists and watches apart) {s['ours_api_requests_per_object_median']:6.2f}   {s['floor_api_requests_per_object_median']:6.2f}")


def report_cycles(results: list[dict[str, Any]]) -> None:
    print()
    print("(b) evaluation cycle, steady state        SLOs  queries/cycle  status patches/cycle  wall s/cycle  CPU s/cycle")
    for r in results:
        print(f"    {'':36} {r['slos']:5d}  {r['queries_per_cycle']:13.2f}  {r['status_patches_per_cycle']:20.1f}  {r['wall_seconds_per_cycle']:12.4f}  {r['cpu_seconds_per_cycle']:11.4f}")
    print("    target: queries per cycle the same for 10 and N, at most 5")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1000, help="SLOs for (a) and the large case of (b)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each operator in (a); the median is reported")
    parser.add_argument("--cycles", type=int, default=5, help="evaluation cycles measured in (b)")
    parser.add_argument("--parts", default="ab", help="which parts to run: a, b or ab (default)")
    arguments = parser.parse_args()
    data = asyncio.run(main(arguments))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    report(data)
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}")
