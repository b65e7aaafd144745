"""One KPI's series never hurt the others, and a broken KPI rule says so on that KPI alone (issue 11, items 4, 8b).

A real Prometheus evaluates the generated rules. The exporter exposes 1,200 series of one gauge (one per user),
more than a KPI's record may write (``rules.naming.SERIES_LIMIT``): the KPI that reads them raw must get
``TooManySeries`` on its own status, from Prometheus' rule health, and the shared read-back must stay small.
A KPI whose query yields two series with one label set (a function dropping the metric name of two metrics)
makes Prometheus fail the rule: ``RuleFailing`` with Prometheus' error, not a quiet ``NoData``. A control KPI
keeps being evaluated throughout (its ``lastEvaluated`` moves on, its value is right).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kpi_operator.rules.naming import SERIES_LIMIT
from kpi_operator_devtools.prometheus_server import PrometheusServer
from kpi_operator_devtools.synthetic_exporter import Exporter
from support.operator_env import Env, operator_env

pytestmark = [pytest.mark.e2e, pytest.mark.hostile, pytest.mark.asyncio]

USERS = SERIES_LIMIT + 200


@pytest.fixture(scope="module")
def metrics() -> Any:
    exporter = Exporter(service="checkout").start()
    for user in range(USERS):
        exporter.set_gauge("shop_session_seconds", float(user), {"user": f"u{user}"})
    exporter.set_gauge("shop_orders_a", 1.0, {"shop": "main"})
    exporter.set_gauge("shop_orders_b", 2.0, {"shop": "main"})
    exporter.set_gauge("shop_conversion_ratio", 0.042)
    prom = PrometheusServer([exporter.target]).start()
    try:
        prom.wait_for_series("shop_conversion_ratio", timeout=30)
        yield prom
    finally:
        prom.stop()
        exporter.stop()


def kpi(name: str, query: str) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "KPI",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"owner": "team-growth", "query": query, "window": "30s", "target": {"op": ">=", "value": 0.03}},
    }


def ready(env: Env, name: str) -> dict[str, Any]:
    return env.condition("kpis", "shop", name, "Ready")


async def control_moves_on(env: Env) -> None:
    """The control KPI is evaluated again after this moment: its ``lastEvaluated`` advances, its value right."""
    before = env.status("kpis", "shop", "control").get("lastEvaluated")
    await env.wait(
        lambda: env.status("kpis", "shop", "control").get("lastEvaluated") not in (None, before),
        timeout=60,
        message="the control KPI evaluated again",
    )
    status = env.status("kpis", "shop", "control")
    assert status["value"] == 0.042 and status["state"] == "Healthy"
    assert ready(env, "control")["status"] == "True"


async def test_a_kpi_of_too_many_series_is_told_so_and_the_others_are_still_evaluated(metrics: Any, tmp_path: Path) -> None:
    async with operator_env(metrics, tmp_path) as env:
        env.emu.create(kpi("control", "shop_conversion_ratio"))
        env.emu.create(kpi("exploding", "shop_session_seconds"))
        await env.wait(lambda: env.status("kpis", "shop", "control").get("value") == 0.042, timeout=60, message="control value")
        await env.wait(lambda: ready(env, "exploding").get("reason") == "TooManySeries", timeout=60, message="TooManySeries")
        condition = ready(env, "exploding")
        assert condition["status"] == "False"
        assert f"exceeded limit of {SERIES_LIMIT} with {USERS} series" in condition["message"]
        assert env.condition("kpis", "shop", "exploding", "Stalled")["reason"] == "TooManySeries"
        assert env.status("kpis", "shop", "exploding")["state"] == "Unknown"
        # Prometheus recorded none of the 1,200 series: the shared read-back stays small.
        assert metrics.query('count(kpi:value{kpi_name="exploding"})') == []
        await control_moves_on(env)


async def test_a_kpi_rule_prometheus_cannot_evaluate_says_why_on_that_kpi(metrics: Any, tmp_path: Path) -> None:
    async with operator_env(metrics, tmp_path) as env:
        env.emu.create(kpi("control", "shop_conversion_ratio"))
        # abs() drops the metric name: two series with one label set, which Prometheus refuses to return.
        env.emu.create(kpi("duplicated", 'abs({__name__=~"shop_orders_a|shop_orders_b"})'))
        await env.wait(lambda: ready(env, "duplicated").get("reason") == "RuleFailing", timeout=60, message="RuleFailing")
        assert "vector cannot contain metrics with the same labelset" in ready(env, "duplicated")["message"]
        assert env.status("kpis", "shop", "duplicated")["state"] == "Unknown"
        await control_moves_on(env)
