"""An object deleted and re-created under the same name: the old one's late DELETED event must not touch the new one.

kopf handles events per object, so the old object's DELETED can arrive after the new object (same namespace and
name, new uid) was reconciled. That late event used to forget the new object's store entry (so it was never
evaluated nor gated again) and delete its PrometheusRule. The handler is called here with exactly that order,
against the emulated API over HTTP, so the test fails every time without the fix instead of once in a while.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from kpi_operator.reconcile import next_serving, plan_reconcile
from kpi_operator.adapters.kube import KubeClient
from kpi_operator.runtime.config import OperatorConfig
from kpi_operator.runtime.handlers import forget_deleted_object, operator_memo
from kpi_operator.runtime.state import Entry, Runtime
from support.kube_emulator import KubeEmulator, load_crds
from support.operator_env import CRDS

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

NOW = "2027-01-15T08:00:00Z"


def slo() -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": "again", "namespace": "shop"},
        "spec": {"service": "api", "owner": "o", "objective": 99.9,
                 "indicator": {"ratio": {"errorsMetric": 'http_requests_total{code=~"5.."}', "totalMetric": "http_requests_total"}}},
    }


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[KubeEmulator, Runtime]]:
    """The emulated API and an operator runtime connected to it over HTTP (no kopf: the tests call the
    handler and the status write themselves, in the order the race needs)."""
    async with KubeEmulator(crds=load_crds(CRDS)) as emu:
        runtime = Runtime(OperatorConfig(metrics_port=-1))
        runtime.kube = await KubeClient.connect(str(emu.write_kubeconfig(tmp_path / "kubeconfig")))
        try:
            yield emu, runtime
        finally:
            await runtime.kube.close()


async def test_the_old_objects_late_deletion_leaves_the_re_created_object_and_its_rule_alone(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (emu, runtime):
        old = emu.create(slo())
        emu.delete_object("slos", "shop", "again")
        new = emu.create(slo())
        assert new["metadata"]["uid"] != old["metadata"]["uid"]
        plan = plan_reconcile(new, "native", NOW)
        assert plan.rule is not None and await runtime.kube.create_prometheus_rule(plan.rule)
        serving = next_serving(plan, None)
        runtime.store.put(Entry(kind="SLO", namespace="shop", name="again", uid=new["metadata"]["uid"], obj=serving.obj, desired_rule=serving.rule))

        await forget_deleted_object(event={"type": "DELETED", "object": old}, logger=logging.getLogger("test"), memo=operator_memo(runtime))

        entry = runtime.store.get(("SLO", "shop", "again"))
        assert entry is not None and entry.uid == new["metadata"]["uid"]
        rule = emu.get("prometheusrules", "shop", "again")
        assert rule is not None and rule["metadata"]["ownerReferences"][0]["uid"] == new["metadata"]["uid"]

        # The new object's own deletion still forgets it and deletes its rule.
        emu.delete_object("slos", "shop", "again")
        await forget_deleted_object(event={"type": "DELETED", "object": new}, logger=logging.getLogger("test"), memo=operator_memo(runtime))
        assert runtime.store.get(("SLO", "shop", "again")) is None
        assert emu.get("prometheusrules", "shop", "again") is None



def acted_gate() -> Any:
    from kpi_operator.api.status import GateStatus

    return GateStatus(state="Acted", message="paused by the old object's gate")


@pytest.mark.parametrize("operator_saw_the_deletion", [True, False], ids=["seen", "not-seen-yet"])
async def test_a_status_write_planned_for_the_old_object_never_lands_on_the_re_created_one(tmp_path: Path, operator_saw_the_deletion: bool) -> None:
    """The flaky gate test's cause: a cycle reads the store, the SLO is deleted and re-applied under its name,
    and the cycle's status write for the old object (``Acted`` on the template the new object's Deployment runs
    again) landed on the new object by name. The new object then believed it had acted and never did.

    ``seen``: the operator's store already holds the new object; ``not-seen-yet``: the watch has not delivered
    the deletion, so only the API can tell the objects apart (the write's uid precondition)."""
    from kpi_operator.api.status import SLOStatus
    from kpi_operator.runtime.evaluation_loop import _patch_status

    async with cluster(tmp_path) as (emu, runtime):
        old = emu.create(slo())
        emu.patch_object("slos", "shop", "again", {"status": {"state": "Healthy"}}, subresource="status")
        stale = runtime.store.put(Entry(kind="SLO", namespace="shop", name="again", uid=old["metadata"]["uid"], obj=None, status=SLOStatus(state="Healthy")))
        emu.delete_object("slos", "shop", "again")
        new = emu.create(slo())
        if operator_saw_the_deletion:
            runtime.store.remove(stale.key, old["metadata"]["uid"])
            runtime.store.put(Entry(kind="SLO", namespace="shop", name="again", uid=new["metadata"]["uid"], obj=None))

        await _patch_status(runtime, stale, SLOStatus(gate=acted_gate()))

        assert (emu.get("slos", "shop", "again").get("status") or {}).get("gate") is None
        assert runtime.telemetry.status_patches.labels("SLO")._value.get() == 0

        # The object's own writes still land, with and without a status on the server yet.
        current = runtime.store.put(Entry(kind="SLO", namespace="shop", name="again", uid=new["metadata"]["uid"], obj=None, status=SLOStatus(state="Healthy")))
        await _patch_status(runtime, current, SLOStatus(gate=acted_gate()))
        assert emu.get("slos", "shop", "again")["status"]["gate"]["state"] == "Acted"
