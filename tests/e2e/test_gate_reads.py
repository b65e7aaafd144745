"""The gates' shared reads of a cycle (``NamespaceReads``) over real HTTP: one list per namespace, a failed list
kept for that namespace only, and a namespace read again once a round has sent a patch there."""

from __future__ import annotations

from pathlib import Path

import kmock
import pytest

from e2e.test_gate_safety import rollout
from kpi_operator.adapters.kube import KubeClient, KubeError
from kpi_operator.runtime.gate_loop import NamespaceReads
from support.kube_emulator import KubeEmulator, load_crds
from support.operator_env import CRDS

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

DEPLOYMENTS = kmock.resource("apps/v1/deployments")
REPLICASETS = kmock.resource("apps/v1/replicasets")


async def test_each_namespace_is_listed_once_until_a_patch_and_a_failed_list_stays_with_its_namespace(tmp_path: Path) -> None:
    async with KubeEmulator(crds=load_crds(CRDS), deployment_controller=True) as emu:
        rollout(emu, "one", ["app:v1", "app:v2"])
        rollout(emu, "two", ["app:v1"], namespace="walled")
        shop_lists = emu["list", DEPLOYMENTS, kmock.namespace("shop")]
        shop_rs_lists = emu["list", REPLICASETS, kmock.namespace("shop")]
        walled_lists = emu["list", DEPLOYMENTS, kmock.namespace("walled")] << 403 << {
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "message": "deployments.apps is forbidden"}
        kube = await KubeClient.connect(str(emu.write_kubeconfig(tmp_path / "kubeconfig")))
        try:
            reads = NamespaceReads(kube)
            first = await reads.deployments("shop")
            assert [d["metadata"]["name"] for d in first] == ["one-canary"]
            assert await reads.deployments("shop") is first and len(list(shop_lists)) == 1
            assert len(await reads.replicasets("shop")) == 2 and len(await reads.replicasets("shop")) == 2
            assert len(list(shop_rs_lists)) == 1
            for _ in range(2):
                with pytest.raises(KubeError, match="forbidden"):
                    await reads.deployments("walled")
            assert len(list(walled_lists)) == 1
            assert await reads.deployments("shop") is first, "another namespace's failure leaves this one's read alone"

            # A round patches the Deployment: the next round of the cycle reads what the patch left.
            await kube.json_patch_deployment("shop", "one-canary", [{"op": "add", "path": "/metadata/annotations/acted", "value": "yes"}])
            reads.forget("shop")
            again = await reads.deployments("shop")
            assert again[0]["metadata"]["annotations"]["acted"] == "yes"
            assert again[0]["metadata"]["resourceVersion"] != first[0]["metadata"]["resourceVersion"]
            assert len(list(shop_lists)) == 2
            with pytest.raises(KubeError):
                await reads.deployments("walled")
            assert len(list(walled_lists)) == 1, "forgetting one namespace does not re-read the others"
        finally:
            await kube.close()
