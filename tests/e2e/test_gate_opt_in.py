"""A gate acts only on the Deployments that opted in (``kpi.dev/gated-by``), end to end: a real Prometheus, the
operator's loop, and Deployments on the emulated API (issue 10, item 10: the operator as a confused deputy).

An SLO whose canary fails has a selector that matches two Deployments: one names the SLO in its annotation and
is rolled back; the other does not (or names another gate) and is never touched, while the SLO's status and a
``GateNotAllowed`` Event say which Deployment was left alone and the annotation that would change it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest

from e2e.test_gate import cycles, deployment, gate_status, gated_slo, metrics, template  # noqa: F401 (fixture)
from support.kube_emulator import KubeEmulator
from support.operator_env import operator_env

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

#: The emulated Deployment controller makes the ReplicaSets, numbers the revisions and reports observedGeneration.
CONTROLLER = {"deployment_controller": True}


def rollout(emu: KubeEmulator, name: str, gated_by: Optional[str]) -> dict[str, Any]:
    """A canary Deployment (labels app=checkout, track=canary) rolled out from checkout:v1 to checkout:v2, with
    ``kpi.dev/gated-by: <gated_by>`` (none when None)."""
    annotations = {} if gated_by is None else {"kpi.dev/gated-by": gated_by}
    labels = {"app": "checkout", "track": "canary"}
    emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "shop", "labels": labels, "annotations": annotations},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": template("checkout:v1")},
        }
    )
    emu.run_controllers()
    emu.patch_object("deployments", "shop", name, {"spec": {"template": template("checkout:v2")}})
    emu.run_controllers()
    body: dict[str, Any] = emu.get("deployments", "shop", name)
    assert body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    return body


@pytest.mark.parametrize("other", [None, "SLO/payments-availability, KPI/consent-canary"], ids=["without the annotation", "naming other gates"])
async def test_only_the_deployment_that_names_the_gate_is_rolled_back(metrics: Any, tmp_path: Path, other: Optional[str]) -> None:
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="consent")
    async with operator_env(prom, tmp_path, emulator=CONTROLLER) as env:
        rollout(env.emu, "checkout-canary", "SLO/consent-canary")
        untouched = rollout(env.emu, "payments-canary", other)
        env.emu.create(gated_slo("consent", failure_limit=1))

        await env.wait(lambda: deployment(env)["spec"]["template"] == template("checkout:v1"), timeout=90, message="the opted-in Deployment rolled back")
        await cycles(env.runtime, 4)  # more failing evaluations: the other Deployment stays untouched in all of them

        assert deployment(env, "payments-canary")["metadata"]["resourceVersion"] == untouched["metadata"]["resourceVersion"]
        status = gate_status(env, "consent-canary")
        assert status.get("notAllowed") == ["payments-canary"], status
        assert sorted(status["targets"]) == ["checkout-canary"] and status["lastAction"]["target"] == "checkout-canary"
        assert "Deployment payments-canary matches spec.gate.selector" in status["message"]
        assert "`kpi.dev/gated-by: SLO/consent-canary`" in status["message"]
        events = env.emu.events("shop", name="consent-canary", reason="GateNotAllowed")
        assert len(events) == 1, [e["message"] for e in events]  # once for this set of Deployments, not every cycle
        assert events[0]["type"] == "Warning" and "payments-canary" in events[0]["message"]
        assert not env.emu.events("shop", name="payments-canary")


async def test_when_no_deployment_opted_in_the_gate_is_as_with_no_match_and_says_why(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="noconsent")
    async with operator_env(prom, tmp_path, emulator=CONTROLLER) as env:
        before = rollout(env.emu, "checkout-canary", "SLO/someone-else")
        env.emu.create(gated_slo("noconsent", failure_limit=1, dryRun=True))
        await env.wait(lambda: (gate_status(env, "noconsent-canary").get("verdict") or {}).get("verdict") == "fail", timeout=90, message="a fail")
        await cycles(env.runtime, 3)
        status = gate_status(env, "noconsent-canary")
        assert (status["state"], status["consecutiveFailures"], status.get("lastAction"), status["targets"]) == ("Armed", 0, None, {})
        assert status["notAllowed"] == ["checkout-canary"] and "not even a dry run" in status["message"]
        assert deployment(env)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert not env.emu.events("shop", name="noconsent-canary", reason="GateDryRun")
        assert len(env.emu.events("shop", name="noconsent-canary", reason="GateNotAllowed")) == 1
