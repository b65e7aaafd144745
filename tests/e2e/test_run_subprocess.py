"""Smoke test of the shipped command: ``kpi-operator run`` as a process of its own, as a user or a pod runs it.

The emulated Kubernetes API runs in another process (``python -m kpi_operator_devtools.kube_emulator``) and the
operator reaches it only through the kubeconfig that process writes; a real Prometheus scrapes the test's exporter.
The test talks to the API over HTTP with ``kubernetes_asyncio``, as ``kubectl`` would, and reads the operator's
``/healthz`` and ``/metrics`` over HTTP. The other in-process e2e tests cover the behaviour in depth; this one
proves the command wires it all together (flags, kubeconfig login, telemetry server, signal handling).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Optional

import aiohttp
import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from kpi_operator_devtools.prometheus_server import PrometheusServer
from kpi_operator_devtools.synthetic_exporter import Exporter
from support.kopf_runner import wait_for

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
NAMESPACE = "shop"
STOP_DEADLINE = 30.0  # seconds the operator gets to exit after SIGTERM


# --------------------------------------------------------------------------------------------- processes


def operator_command() -> list[str]:
    """The console script next to this interpreter (the venv's), else the same entry point through ``-m``."""
    script = Path(sys.executable).parent / "kpi-operator"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kpi_operator.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def session_members(sid: int) -> list[tuple[int, str]]:
    """Processes (pid, command name) whose session id is ``sid``: a process started with ``start_new_session``
    and everything it forked, even children re-parented after it died."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid:  # fields after the name: state ppid pgrp session ...
            members.append((int(entry.name), comm))
    return members


class Process:
    """A child process with its output in a file (a pipe nobody drains would block it), in its own session."""

    def __init__(self, argv: list[str], log: Path, env: Optional[dict[str, str]] = None):
        self.argv = argv
        self.log = log
        self._out = open(log, "wb")
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_DEADLINE) -> Optional[int]:
        """Send ``sig`` and wait (polling, with a deadline) for the exit code; None if it did not exit in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            await wait_for(lambda: self.popen.poll() is not None, timeout=timeout, interval=0.05)
        except TimeoutError:
            return None
        return self.popen.returncode

    def kill(self) -> None:
        """Last resort in a finally: SIGKILL the process group this test created, by its id."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=10)
        self._out.close()


@pytest.fixture(scope="module")
def metrics() -> Iterator[tuple[Exporter, PrometheusServer]]:
    """A real Prometheus scraping the exporter: ``checkout`` stable traffic at 50/s with exactly 1% errors, and a
    gauge ``checkout_conversion_ratio`` of 0.042."""
    exporter = Exporter(service="checkout").start()
    exporter.set_traffic("stable", rps=50, error_ratio=0.01)
    exporter.set_gauge("checkout_conversion_ratio", 0.042)
    prom = PrometheusServer([exporter.target]).start()
    try:
        prom.wait_for_series('http_requests_total{service="checkout"}', timeout=30)
        yield exporter, prom
    finally:
        prom.stop()
        exporter.stop()


@pytest_asyncio.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Path]:
    """The emulated API in a process of its own; yields the kubeconfig it wrote."""
    kubeconfig = tmp_path / "kubeconfig"
    proc = Process(
        [sys.executable, "-m", "kpi_operator_devtools.kube_emulator", "--port", "0", "--crds", str(CRDS), "--kubeconfig-out", str(kubeconfig)],
        tmp_path / "emulator.log",
    )
    try:
        await wait_for(
            lambda: proc.popen.poll() is None and "READY http://" in proc.output() or proc.popen.poll() is not None,
            timeout=60,
            interval=0.05,
            message="the emulator to print READY",
        )
        assert proc.popen.poll() is None, f"the emulator exited with {proc.popen.returncode}:\n{proc.tail()}"
        assert kubeconfig.exists()
        yield kubeconfig
    finally:
        code = await proc.stop()
        proc.kill()
        assert code is not None, "the emulator did not stop on SIGTERM"


@pytest_asyncio.fixture
async def api(emulator: Path) -> AsyncIterator[client.ApiClient]:
    """A kubernetes_asyncio client of the emulator, from its kubeconfig (explicitly: never $KUBECONFIG)."""
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(emulator), client_configuration=configuration)
    async with client.ApiClient(configuration=configuration) as api_client:
        yield api_client


def start_operator(kubeconfig: Path, prometheus_url: str, log: Path, *extra: str, metrics_port: int = 0) -> Process:
    argv = [
        *operator_command(),
        "run",
        "--kubeconfig", str(kubeconfig),
        "--prometheus-url", prometheus_url,
        "--evaluation-interval", "1",
        "--metrics-port", str(metrics_port),
        "--metrics-host", "127.0.0.1",
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_OPERATOR_")}
    env.pop("KUBECONFIG", None)  # the flag alone must be enough
    return Process(argv, log, env=env)


# ------------------------------------------------------------------------------------------------ objects


def slo(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"release": "prometheus"}},
        "spec": {
            "service": "checkout",
            "owner": "team-payments",
            "objective": 99.9,
            "indicator": {
                "ratio": {
                    "errors": 'sum(rate(http_requests_total{service="checkout",track="stable",code=~"5.."}[{{.window}}]))',
                    "total": 'sum(rate(http_requests_total{service="checkout",track="stable"}[{{.window}}]))',
                }
            },
        },
    }


def kpi(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "KPI",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "owner": "team-growth",
            "query": "avg(checkout_conversion_ratio)",
            "window": "30s",
            "target": {"op": ">=", "value": 0.03},
            "thresholds": {"warning": 0.028, "critical": 0.025},
        },
    }


async def get_or_none(custom: client.CustomObjectsApi, group: str, version: str, plural: str, name: str) -> Optional[dict[str, Any]]:
    try:
        return await custom.get_namespaced_custom_object(group, version, NAMESPACE, plural, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def parse_metrics(text: str) -> dict[str, float]:
    """Samples of the exposition summed over labels, by sample name (``..._total`` for counters)."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


# -------------------------------------------------------------------------------------------------- tests


@pytest.mark.asyncio
async def test_kpi_operator_run_reconciles_evaluates_serves_its_telemetry_and_stops_cleanly_on_sigterm(
    metrics: tuple[Exporter, PrometheusServer], emulator: Path, api: client.ApiClient, tmp_path: Path
) -> None:
    _, prom = metrics
    port = free_port()
    operator = start_operator(emulator, prom.url, tmp_path / "operator.log", metrics_port=port)
    try:
        custom = client.CustomObjectsApi(api)

        def alive() -> None:
            assert operator.popen.poll() is None, f"kpi-operator exited with {operator.popen.returncode}:\n{operator.tail()}"

        async def until(predicate: Any, timeout: float, message: str) -> Any:
            async def check() -> Any:
                alive()
                return await predicate()

            try:
                return await wait_for(check, timeout=timeout, interval=0.1, message=message)
            except TimeoutError as error:
                raise AssertionError(f"{error}\n--- operator log ---\n{operator.tail()}") from None

        created_slo = await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, "slos", slo("smoke-availability"))
        created_kpi = await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, "kpis", kpi("smoke-conversion"))

        # The PrometheusRule of each object, owned by it (so the API server's garbage collector deletes it with it).
        rules = {}
        for created in (created_slo, created_kpi):
            name = created["metadata"]["name"]
            rule = await until(lambda: get_or_none(custom, "monitoring.coreos.com", "v1", "prometheusrules", name), 60, f"PrometheusRule {name}")
            assert rule["metadata"]["ownerReferences"] == [
                {
                    "apiVersion": "kpi.dev/v1alpha1",
                    "kind": created["kind"],
                    "name": name,
                    "uid": created["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
            assert rule["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kpi-operator"
            assert rule["spec"]["groups"], "a rule without groups"
            rules[name] = rule

        # status.observedGeneration and status.definition, written by the reconcile handlers.
        async def reconciled(plural: str, name: str) -> Optional[dict[str, Any]]:
            status = ((await get_or_none(custom, "kpi.dev", "v1alpha1", plural, name)) or {}).get("status") or {}
            return status if status.get("observedGeneration") == 1 and status.get("definition") else None

        for plural, name in (("slos", "smoke-availability"), ("kpis", "smoke-conversion")):
            status = await until(lambda: reconciled(plural, name), 30, f"{plural}/{name} observedGeneration and definition")
            definition = status["definition"]
            assert definition["version"] == 1 and len(definition["hash"]) >= 8 and definition["changedAt"].endswith("Z")

        # What prometheus-operator would do: the rules into the real Prometheus. Then the operator's evaluation
        # loop (in the subprocess) reads the recorded series back into status.
        for name, rule in rules.items():
            await asyncio.to_thread(prom.set_rule_groups, rule["spec"]["groups"], f"{NAMESPACE}__{name}")

        async def kpi_value() -> bool:
            status = ((await get_or_none(custom, "kpi.dev", "v1alpha1", "kpis", "smoke-conversion")) or {}).get("status") or {}
            return status.get("value") == 0.042 and status.get("state") == "Healthy"

        await until(kpi_value, 60, "the KPI's value 0.042 (the exporter's gauge) in its status")

        async def slo_evaluated() -> bool:
            status = ((await get_or_none(custom, "kpi.dev", "v1alpha1", "slos", "smoke-availability")) or {}).get("status") or {}
            ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
            # 1% errors: the SLI settles at 99% (tolerance while the first windows fill).
            return ready.get("status") == "True" and status.get("sli") is not None and abs(status["sli"] - 99.0) <= 0.5

        await until(slo_evaluated, 60, "the SLO Ready with an SLI of ~99%")

        # /healthz and /metrics of the process.
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200, await response.text()
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                exposition = await response.text()
        samples = parse_metrics(exposition)
        assert samples.get("kpi_operator_reconciles_total", 0) > 0, exposition
        assert samples.get("kpi_operator_evaluation_cycles_total", 0) >= 1, exposition
        assert samples.get("kpi_operator_prometheus_queries_total", 0) >= 3, exposition
        assert "kpi_operator_evaluation_duration_seconds_count" in samples

        # SIGTERM: a clean exit within the deadline, with nothing left behind.
        alive()
        code = await operator.stop(signal.SIGTERM)
        assert code is not None, f"kpi-operator did not exit within {STOP_DEADLINE}s of SIGTERM:\n{operator.tail()}"
        assert code in (0, -signal.SIGTERM), f"exit code {code}:\n{operator.tail()}"
        try:  # a child that outlives the operator would show up here (its session id is the operator's pid)
            await wait_for(lambda: session_members(operator.pid) == [], timeout=10, interval=0.05)
        except TimeoutError:
            pytest.fail(f"processes left behind by kpi-operator: {session_members(operator.pid)}")
        log = operator.output()
        assert "Traceback" not in log, log
        assert "Signal SIGTERM is received" in log
    finally:
        operator.kill()


def test_a_malformed_prometheus_header_is_a_usage_error_with_exit_code_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_OPERATOR_")}
    result = subprocess.run(
        [*operator_command(), "run", "--prometheus-header", "bad", "--kubeconfig", str(tmp_path / "absent"), "--metrics-port", "-1"],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "--prometheus-header 'bad'" in result.stderr and "Name: value" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.asyncio
async def test_log_format_json_writes_one_json_object_per_line(emulator: Path, api: client.ApiClient, tmp_path: Path) -> None:
    """Every line is JSON, kopf's and the operator's own loggers alike: an SLO is reconciled (kopf's per-object
    logger) and evaluated against a Prometheus that is not there (``kpi_operator.evaluation``'s warning)."""
    unreachable = f"http://127.0.0.1:{free_port()}"
    operator = start_operator(emulator, unreachable, tmp_path / "operator.log", "--log-format", "json")
    try:
        custom = client.CustomObjectsApi(api)
        await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, "slos", slo("json-logs"))

        def logged() -> bool:
            assert operator.popen.poll() is None, f"kpi-operator exited with {operator.popen.returncode}:\n{operator.tail()}"
            text = operator.output()
            return "PrometheusRule shop/json-logs created" in text and "evaluation failed" in text

        try:
            await wait_for(logged, timeout=60, interval=0.1, message="the reconcile and the evaluation to be logged")
        except TimeoutError as error:
            raise AssertionError(f"{error}\n{operator.tail()}") from None
        code = await operator.stop(signal.SIGTERM)
        assert code in (0, -signal.SIGTERM), f"exit code {code}:\n{operator.tail()}"

        lines = [line for line in operator.output().splitlines() if line.strip()]
        records = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"not a JSON line: {line!r}")
            assert isinstance(record, dict) and "message" in record and "severity" in record and "timestamp" in record, line
            records.append(record)
        created = [r for r in records if "PrometheusRule shop/json-logs created" in r["message"]]
        assert created and created[0]["severity"] == "info"
        assert any("evaluation failed" in r["message"] and r["severity"] in ("warn", "warning") for r in records), [r for r in records if "evaluation" in r["message"]]
    finally:
        operator.kill()
