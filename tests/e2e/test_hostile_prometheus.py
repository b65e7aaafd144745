"""A broken or hostile Prometheus never restarts the operator, every failure names its cause, and no credential of
the Prometheus address is ever printed (issue 11, items 5 and 7).

The faults are real answers on the wire from a fake query API in a thread of the test (``support.fake_prometheus``):
a server that never answers, one that drips its body a byte at a time, HTTP 503 with Prometheus' JSON error, HTTP
400 ``bad_data``, a connection closed without a byte, HTTPS with a self-signed certificate; plus a refused port
and a name that does not resolve. The Prometheus URL carries ``user:password@`` in every case. Each case has a
control object (a KPI) whose PrometheusRule must still be written. ``/healthz`` is read over HTTP from a
``kpi-operator run`` process through a hang longer than the old health window, and from an in-process operator
through a real Prometheus halted long enough to back off several times and then resumed: the loop recovers.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client

from e2e.test_run_subprocess import (  # noqa: F401 (fixtures)
    NAMESPACE,
    ROOT,
    api,
    emulator,
    free_port,
    get_or_none,
    kpi,
    parse_metrics,
    slo,
    start_operator,
)
from kpi_operator_devtools.prometheus_server import PrometheusServer
from kpi_operator_devtools.synthetic_exporter import Exporter
from support.fake_prometheus import FakePrometheus
from support.kopf_runner import wait_for
from support.kube_emulator import KubeEmulator, load_crds
from support.operator_env import CRDS, operator_env, running_operator

pytestmark = [pytest.mark.e2e, pytest.mark.hostile]

SECRET = "s3cret-pw"
HEALTH_WINDOW = 60.0  # the longest /healthz ever tolerated a loop without a finished cycle (interval 1 s)


def with_userinfo(url: str) -> str:
    return url.replace("://", f"://alice:{SECRET}@", 1)


def stalled(status: dict[str, Any]) -> Optional[dict[str, Any]]:
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Stalled"), None)
    return condition if condition and condition.get("reason") == "PrometheusUnavailable" else None


def ready(status: dict[str, Any]) -> bool:
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    return condition.get("status") == "True" and condition.get("reason") == "Evaluated"


# ------------------------------------------------------------------------- every fault names its cause


FAULTS = [
    pytest.param("hang", False, "did not answer within 2s", id="a server that never answers"),
    pytest.param("drip", False, "did not answer within 2s", id="a body dripped a byte at a time"),
    pytest.param("unavailable", False, "answered HTTP 503 unavailable: tsdb head is being compacted, try again", id="503 with its error"),
    pytest.param("bad_data", False, 'rejected the query: HTTP 400 bad_data: invalid parameter "query"', id="400 bad_data"),
    pytest.param("close", False, "closed the connection without a complete answer", id="closed without an answer"),
    pytest.param("ok", True, "failed TLS verification: certificate verify failed: self-signed certificate", id="self-signed TLS"),
    pytest.param("refused", False, "is unreachable: connection refused", id="refused"),
    pytest.param("dns", False, "is unreachable: DNS lookup of prometheus.invalid failed", id="a name that does not resolve"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("mode, tls, cause", FAULTS)
async def test_a_prometheus_fault_is_named_in_status_and_events_without_retries_or_credentials(
    mode: str, tls: bool, cause: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake: Optional[FakePrometheus] = None
    if mode == "refused":
        url = f"http://127.0.0.1:{free_port()}"
    elif mode == "dns":
        url = "http://prometheus.invalid:9090"
    else:
        fake = FakePrometheus(mode, tls=tls, drip_every=0.5).start()
        url = fake.url
    try:
        async with KubeEmulator(crds=load_crds(CRDS)) as emu:
            kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
            async with running_operator(emu, with_userinfo(url), kubeconfig) as (runtime, operator):
                emu.create(slo("victim"))  # the in-process operator queries with a 2 s timeout, every second
                emu.create(kpi("control"))
                condition = await wait_for(
                    lambda: stalled((emu.get("slos", NAMESPACE, "victim") or {}).get("status") or {}),
                    timeout=60, interval=0.05, message="the SLO Stalled with PrometheusUnavailable", operator=operator,
                )
                errors = runtime.telemetry.query_errors._value.get()
                assert cause in condition["message"], condition["message"]
                if mode not in ("refused", "dns"):
                    assert "unreachable" not in condition["message"], condition["message"]
                if fake is not None:
                    # One request per failed query: no hidden retries (one more may be on its way by now).
                    assert errors >= 1 and fake.count() <= errors + 1, (fake.count(), errors)
                events = await wait_for(
                    lambda: emu.events(NAMESPACE, name="victim", reason="PrometheusUnavailable"), timeout=30, operator=operator
                )
                assert cause in events[0]["message"]
                # The control object keeps being served: its rule is written.
                await wait_for(lambda: emu.get("prometheusrules", NAMESPACE, "control"), timeout=30, operator=operator)
                printed = json.dumps([emu.list("slos"), emu.list("kpis"), emu.events()])
                assert SECRET not in printed
                assert "alice" not in printed  # the user name too: it may be a token
                assert SECRET not in caplog.text
    finally:
        if fake is not None:
            fake.stop()


# ----------------------------------------------------------------------- /healthz through a long hang


@pytest.mark.asyncio
async def test_a_hanging_prometheus_never_fails_healthz_and_no_log_line_has_the_password(
    emulator: Path, api: client.ApiClient, tmp_path: Path
) -> None:
    """Each query hangs for its whole timeout (20 s): before, the client tried four times per query (86 s with its
    backoff) and ``/healthz`` failed after a minute without a finished cycle. The window watched is the old health
    window plus a margin; ``--verbose`` logs the most there is to log."""
    fake = FakePrometheus("hang").start()
    port = free_port()
    log = tmp_path / "operator.log"
    operator = start_operator(emulator, with_userinfo(fake.url), log, "--prometheus-timeout", "20", "--verbose", metrics_port=port)
    try:
        custom = client.CustomObjectsApi(api)
        await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, "slos", slo("victim"))
        await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, "kpis", kpi("control"))
        answers: list[int] = []
        loop = asyncio.get_running_loop()
        watch_until = loop.time() + HEALTH_WINDOW + 5
        async with aiohttp.ClientSession() as session:
            while loop.time() < watch_until:
                assert operator.popen.poll() is None, f"kpi-operator exited:\n{operator.tail()}"
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as response:
                        answers.append(response.status)
                        assert response.status == 200, f"/healthz {response.status}: {await response.text()}\n{operator.tail()}"
                except aiohttp.ClientConnectionError:
                    pass  # the telemetry server is not up yet
                await asyncio.sleep(0.5)
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                samples = parse_metrics(await response.text())
        assert answers and set(answers) == {200}

        status = ((await get_or_none(custom, "kpi.dev", "v1alpha1", "slos", "victim")) or {}).get("status") or {}
        condition = stalled(status)
        assert condition is not None and "did not answer within 20s" in condition["message"], status
        errors = samples.get("kpi_operator_prometheus_query_errors_total", 0)
        assert errors >= 2 and fake.count() <= errors + 1, (fake.count(), errors)  # one request per query
        assert await get_or_none(custom, "monitoring.coreos.com", "v1", "prometheusrules", "control"), "the control KPI's rule"

        fake.stop()  # the hung requests end, so the operator stops at once
        code = await operator.stop(signal.SIGTERM)
        assert code in (0, -signal.SIGTERM), operator.tail()
        events = await client.CoreV1Api(api).list_namespaced_event(NAMESPACE)
        printed = json.dumps([status, [e.message for e in events.items]])
        assert "did not answer within 20s" in printed
        output = operator.output()
        assert "did not answer within 20s" in output  # the failure is logged ...
        assert SECRET not in printed and SECRET not in output  # ... and the password nowhere
    finally:
        fake.stop()
        operator.kill()


# ------------------------------------------------------------- a real Prometheus goes away and comes back


@pytest.fixture(scope="module")
def live_prometheus() -> Iterator[PrometheusServer]:
    exporter = Exporter(service="checkout").start()
    exporter.set_traffic("stable", rps=50, error_ratio=0.01)
    exporter.set_gauge("checkout_conversion_ratio", 0.042)
    prom = PrometheusServer([exporter.target]).start()
    try:
        prom.wait_for_series('http_requests_total{service="checkout"}', timeout=30)
        yield prom
    finally:
        prom.stop()
        exporter.stop()


@pytest.mark.asyncio
async def test_healthz_stays_200_while_the_loop_backs_off_and_the_loop_recovers_when_prometheus_returns(
    live_prometheus: PrometheusServer, tmp_path: Path
) -> None:
    prom = live_prometheus
    async with operator_env(prom, tmp_path) as env:
        env.emu.create(slo("victim"))
        env.emu.create(kpi("control"))
        for plural, name in (("slos", "victim"), ("kpis", "control")):
            await env.wait(lambda: ready(env.status(plural, NAMESPACE, name)), timeout=90, message=f"{plural}/{name} evaluated")
        port = env.runtime.telemetry.port
        errors = env.runtime.telemetry.query_errors
        await asyncio.to_thread(prom.halt)
        try:
            answers: list[int] = []
            async with aiohttp.ClientSession() as session:

                async def backed_off_four_times() -> bool:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        answers.append(response.status)
                        assert response.status == 200, await response.text()
                    return errors._value.get() >= 4

                # Four failures in a row: waits of 1, 2, 4 and 8 intervals.
                await env.wait(backed_off_four_times, timeout=90, message="four failed cycles")
            assert answers and set(answers) == {200}
            for plural, name in (("slos", "victim"), ("kpis", "control")):
                condition = stalled(env.status(plural, NAMESPACE, name))
                assert condition is not None and "is unreachable: connection refused" in condition["message"]
        finally:
            await asyncio.to_thread(prom.resume)
        for plural, name in (("slos", "victim"), ("kpis", "control")):
            await env.wait(lambda: ready(env.status(plural, NAMESPACE, name)), timeout=60, message=f"{plural}/{name} evaluated again")
        assert env.runtime.telemetry.healthy()


# ------------------------------------------------------------------------------- the gate command


def test_the_gate_command_names_a_503_once_and_never_prints_the_password(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(slo("victim")))
    with FakePrometheus("unavailable") as fake:
        result = subprocess.run(
            [sys.executable, "-m", "kpi_operator.cli", "gate", "-f", str(path), "--prometheus", with_userinfo(fake.url)],
            capture_output=True, text=True, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL,
        )
        requests = fake.count()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "HTTP 503 unavailable: tsdb head is being compacted" in result.stdout, result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert requests == 1  # the first query failed, and was not retried behind the command's back
