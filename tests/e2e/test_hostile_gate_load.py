"""Many gates in one namespace never slow the cycle down for everybody: the namespace's Deployments and
ReplicaSets are listed once per cycle, however many gated objects select there, and a namespace whose lists
fail costs one failed list per cycle, for its own gates only.

Real HTTP throughout: the emulated API (with its Deployment controller) serves and records every request, kmock
answers the injected 403; a real Prometheus evaluates the control object's rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kmock
import pytest

from e2e.test_gate import metrics  # noqa: F401 (fixture)
from e2e.test_gate_safety import cycles, gate, gated_slo, in_process_cycles, rollout
from support.operator_env import operator_env

pytestmark = [pytest.mark.e2e, pytest.mark.hostile, pytest.mark.asyncio]

DEPLOYMENTS = kmock.resource("apps/v1/deployments")
REPLICASETS = kmock.resource("apps/v1/replicasets")
CROWD = 10  # gated SLOs in one namespace; before the per-cycle reads, each listed both resources every cycle


def control_slo(service: str) -> dict[str, Any]:
    body = gated_slo(service)
    del body["spec"]["gate"]
    return body


async def test_many_gates_in_one_namespace_list_its_deployments_once_per_cycle(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.0, service="control")
    async with operator_env(prom, tmp_path) as env:
        for i in range(CROWD):
            rollout(env.emu, f"crowd{i}", ["app:v1", "app:v2"], namespace="crowd")
        rollout(env.emu, "walled", ["app:v1"], namespace="walled")
        deployment_lists = env.emu["list", DEPLOYMENTS, kmock.namespace("crowd")]
        replicaset_lists = env.emu["list", REPLICASETS, kmock.namespace("crowd")]
        walled_lists = env.emu["list", DEPLOYMENTS, kmock.namespace("walled")] << 403 << {
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "message": "deployments.apps is forbidden"}
        for i in range(CROWD):
            env.emu.create(gated_slo(f"crowd{i}", namespace="crowd"))
        for i in range(2):
            env.emu.create(gated_slo(f"walled{i}", namespace="walled"))
        env.emu.create(control_slo("control"))

        def verdict(service: str, namespace: str) -> str:
            return str((gate(env.emu, "slos", f"{service}-availability", namespace).get("verdict") or {}).get("verdict") or "")

        await env.wait(lambda: all(verdict(f"crowd{i}", "crowd") for i in range(CROWD)), timeout=90, message="every crowded gate judged")
        await env.wait(lambda: all(verdict(f"walled{i}", "walled") == "error" for i in range(2)), timeout=60, message="the walled gates hold")
        count = in_process_cycles(env)
        first, lists, replicasets, walled = count(), len(list(deployment_lists)), len(list(replicaset_lists)), len(list(walled_lists))
        await cycles(count, 4)
        last = count()
        # Lists made between the two readings belong to at most (last - first + 1) cycles (one may be partly in).
        bound = last - first + 1
        assert len(list(deployment_lists)) - lists <= bound
        assert len(list(replicaset_lists)) - replicasets <= bound
        assert len(list(walled_lists)) - walled <= bound
        assert all(verdict(f"crowd{i}", "crowd") not in ("", "error") for i in range(CROWD))
        assert all("forbidden" in gate(env.emu, "slos", f"walled{i}-availability", "walled")["verdict"]["reason"] for i in range(2))
        # The control object is served: its rule is written and it is evaluated from data.
        assert env.emu.get("prometheusrules", "shop", "control-availability") is not None
        await env.wait(lambda: env.status("slos", "shop", "control-availability").get("state") in ("Healthy", "Warning", "Critical"),
                       timeout=120, message="the control object evaluated from data")
