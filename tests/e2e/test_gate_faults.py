"""The gate under API faults answered over real HTTP by the emulated API: a refused act is not an act, and a
failed read is not "no Deployment".

kubernetes_asyncio raises on a non-2xx answer only when it preloads the body; the gate's calls read raw, so these
tests fail unless every call checks its status (issue: "HTTP errors count as success").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kmock
import pytest

from e2e.test_gate import deployment, gate_status, gated_slo, make_rollout, metrics, template  # noqa: F401 (fixture)
from support.operator_env import operator_env

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.asyncio]

DEPLOYMENTS = kmock.resource("apps/v1/deployments")


@pytest.mark.parametrize("code", [500, 403, 409, 422])
async def test_a_refused_rollback_is_not_recorded_as_an_act_and_is_tried_again(metrics: Any, tmp_path: Path, code: int) -> None:
    exporter, prom = metrics
    service = f"refused{code}"
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service=service)
    async with operator_env(prom, tmp_path) as env:
        make_rollout(env.emu)
        refusals = env.emu["patch", DEPLOYMENTS, kmock.namespace("shop")][:2] << code << {
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "message": f"injected {code}"}
        env.emu.create(gated_slo(service, failure_limit=1))
        await env.wait(lambda: len(env.emu.events("shop", name=f"{service}-canary", reason="GateActionFailed")) >= 2,
                       timeout=90, message="two refused acts reported")
        assert len(list(refusals)) == 2
        failed = env.emu.events("shop", name=f"{service}-canary", reason="GateActionFailed")
        assert all(f"injected {code}" in event["message"] for event in failed)
        await env.wait(lambda: deployment(env)["spec"]["template"] == template("checkout:v1"), timeout=60, message="the third try rolls back")
        await env.wait(lambda: (gate_status(env, f"{service}-canary").get("lastAction") or {}).get("toRevision") == "1", message="the act recorded")
        assert len(env.emu.events("shop", name="checkout-canary", reason="GateActed")) == 1


async def test_a_failed_deployment_list_is_an_error_verdict_not_no_deployment(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="forbidden")
    async with operator_env(prom, tmp_path) as env:
        before = make_rollout(env.emu)
        env.emu["list", DEPLOYMENTS, kmock.namespace("shop")] << 403 << {
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "message": "deployments.apps is forbidden"}
        env.emu.create(gated_slo("forbidden", failure_limit=1))
        await env.wait(lambda: (gate_status(env, "forbidden-canary").get("verdict") or {}).get("verdict") == "error",
                       timeout=90, message="an error verdict")
        status = gate_status(env, "forbidden-canary")
        assert "forbidden" in status["verdict"]["reason"] and status.get("message") is None
        assert deployment(env)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
