"""Hostile specs against the real ``kpi-operator run`` process: one object must never hurt the others.

A query of 20,000 nested parentheses used to crash the process inside the compiled PromQL parser on every
restart; a stray ``{{`` in an alert annotation made Prometheus refuse the whole rule file while the object said
Ready. Each case creates the hostile object next to a normal control SLO and asserts the process keeps running,
the control is served (its rule written, its status evaluated) and the hostile object is ``Stalled`` with a
message naming the field.

The CRDs refuse an over-long query (``maxLength``); a cluster can still hold one (an object stored before the
CRD was updated, a CRD installed from an older chart), so the emulated API here is started with copies of the
CRDs without their ``maxLength`` bounds, and the operator is the last line of defence.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
import yaml
from kubernetes_asyncio import client

from kpi_operator_devtools.prometheus_server import PrometheusServer
from kpi_operator_devtools.synthetic_exporter import Exporter
from support.kopf_runner import wait_for
from test_run_subprocess import CRDS, NAMESPACE, Process, api, get_or_none, kpi, metrics, slo, start_operator  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.hostile]


def _without_max_length(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_max_length(v) for k, v in node.items() if k != "maxLength"}
    if isinstance(node, list):
        return [_without_max_length(v) for v in node]
    return node


@pytest_asyncio.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Path]:
    """The emulated API in its own process, with the CRDs' length bounds removed (a cluster with older CRDs)."""
    crds = tmp_path / "crds"
    crds.mkdir()
    for path in CRDS.glob("*.yaml"):
        (crds / path.name).write_text(yaml.safe_dump(_without_max_length(yaml.safe_load(path.read_text()))))
    kubeconfig = tmp_path / "kubeconfig"
    proc = Process(
        [sys.executable, "-m", "kpi_operator_devtools.kube_emulator", "--port", "0", "--crds", str(crds), "--kubeconfig-out", str(kubeconfig)],
        tmp_path / "emulator.log",
    )
    try:
        await wait_for(lambda: "READY http://" in proc.output() or proc.popen.poll() is not None, timeout=60, interval=0.05)
        assert proc.popen.poll() is None, f"the emulator exited with {proc.popen.returncode}:\n{proc.tail()}"
        yield kubeconfig
    finally:
        await proc.stop()
        proc.kill()


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


async def _run_case(
    hostile_plural: str, hostile: dict[str, Any], field: str, reason: str, prom: PrometheusServer, kubeconfig: Path, api_client: client.ApiClient, log: Path
) -> None:
    operator = start_operator(kubeconfig, prom.url, log)
    custom = client.CustomObjectsApi(api_client)

    async def until(predicate: Any, message: str) -> Any:
        async def check() -> Any:
            assert operator.popen.poll() is None, f"kpi-operator exited with {operator.popen.returncode}:\n{operator.tail()}"
            return await predicate()

        try:
            return await wait_for(check, timeout=90, interval=0.2, message=message)
        except TimeoutError as error:
            raise AssertionError(f"{error}\n--- operator log ---\n{operator.tail()}") from None

    try:
        await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, hostile_plural, hostile)
        await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, "slos", slo("control"))
        name = hostile["metadata"]["name"]

        async def hostile_stalled() -> bool:
            stalled = condition(await get_or_none(custom, "kpi.dev", "v1alpha1", hostile_plural, name) or {}, "Stalled")
            return stalled.get("status") == "True" and stalled.get("reason") == reason and field in stalled.get("message", "")

        await until(hostile_stalled, f"the hostile object Stalled/{reason} naming {field}")

        rule = await until(lambda: get_or_none(custom, "monitoring.coreos.com", "v1", "prometheusrules", "control"), "the control SLO's rule")
        # What prometheus-operator would do: the control's rules into the real Prometheus, which must accept them.
        await asyncio.to_thread(prom.set_rule_groups, rule["spec"]["groups"], f"{NAMESPACE}__control")

        async def control_served() -> bool:
            status = ((await get_or_none(custom, "kpi.dev", "v1alpha1", "slos", "control")) or {}).get("status") or {}
            return condition({"status": status}, "Ready").get("status") == "True" and status.get("sli") is not None

        await until(control_served, "the control SLO's status evaluated (Ready, an SLI)")
        assert await get_or_none(custom, "monitoring.coreos.com", "v1", "prometheusrules", name) is None
        assert operator.popen.poll() is None, operator.tail()
    finally:
        await operator.stop()
        operator.kill()


@pytest.mark.asyncio
async def test_a_kpi_query_of_20000_nested_parentheses_is_stalled_and_the_operator_keeps_serving(
    metrics: tuple[Exporter, PrometheusServer], emulator: Path, api: client.ApiClient, tmp_path: Path
) -> None:
    hostile = kpi("deep-query")
    hostile["spec"]["query"] = "(" * 20000 + "avg(checkout_conversion_ratio)" + ")" * 20000
    await _run_case("kpis", hostile, "spec.query", "InvalidSpec", metrics[1], emulator, api, tmp_path / "operator.log")


@pytest.mark.asyncio
async def test_an_unclosed_template_action_in_an_annotation_is_stalled_and_the_operator_keeps_serving(
    metrics: tuple[Exporter, PrometheusServer], emulator: Path, api: client.ApiClient, tmp_path: Path
) -> None:
    hostile = slo("stray-braces")
    hostile["spec"]["alerting"] = {"annotations": {"summary": "error budget {{ burning"}}
    await _run_case("slos", hostile, "spec.alerting.annotations.summary", "InvalidSpec", metrics[1], emulator, api, tmp_path / "operator.log")


@pytest.mark.asyncio
async def test_a_query_in_an_alert_template_is_refused_without_the_flag_and_the_operator_keeps_serving(
    metrics: tuple[Exporter, PrometheusServer], emulator: Path, api: client.ApiClient, tmp_path: Path
) -> None:
    hostile = slo("template-query")
    hostile["spec"]["alerting"] = {"pageAlert": {"annotations": {"detail": '{{ with query "up" }}{{ . | first | value }}{{ end }}'}}}
    await _run_case("slos", hostile, "spec.alerting.pageAlert.annotations.detail", "TemplateQueryRefused", metrics[1], emulator, api, tmp_path / "operator.log")
