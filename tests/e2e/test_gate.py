"""The canary gate end to end: a real Prometheus scraping stable and canary traffic, the operator deciding, and a
Deployment rolled out twice (revisions 1 and 2) on the emulated API.

The emulated API's Deployment controller makes the ReplicaSets and revisions, renumbers the template a rollback
restores and reports ``observedGeneration``, as kube-controller-manager does. Each test uses its own service
name, so no test sees another's errors.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from kpi_operator_devtools.prometheus_server import PrometheusServer
from kpi_operator_devtools.synthetic_exporter import Exporter
from support.kube_emulator import KubeEmulator, load_crds
from support.operator_env import CRDS, Env, RuleSync, operator_env, running_operator

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture(scope="module")
def metrics() -> Any:
    exporter = Exporter(service="unused").start()
    prom = PrometheusServer([exporter.target]).start()
    try:
        yield exporter, prom
    finally:
        prom.stop()
        exporter.stop()


def template(image: str, hash_: str | None = None) -> dict[str, Any]:
    labels = {"app": "checkout", "track": "canary"}
    if hash_:
        labels["pod-template-hash"] = hash_
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "checkout", "image": image}]}}


def make_rollout(emu: KubeEmulator, name: str = "checkout-canary", revision: int = 2, paused: bool = False, gated_by: str = "*") -> dict[str, Any]:
    """A canary Deployment rolled out through images v1..v``revision`` (the emulated controller makes a ReplicaSet
    and a revision for each), opted in to the gates ``gated_by`` names (``kpi.dev/gated-by``; ``*``: any gate of
    the namespace), paused at the end when ``paused``."""
    emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": "checkout", "track": "canary"},
                         "annotations": {"kpi.dev/gated-by": gated_by}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "checkout", "track": "canary"}},
                "template": template("checkout:v1"),
            },
        }
    )
    for number in range(2, revision + 1):
        emu.patch_object("deployments", "shop", name, {"spec": {"template": template(f"checkout:v{number}")}})
    if paused:
        emu.patch_object("deployments", "shop", name, {"spec": {"paused": True}})
    deployment: dict[str, Any] = emu.get("deployments", "shop", name)
    assert deployment["metadata"]["annotations"][REVISION] == str(revision)
    return deployment


def gated_slo(service: str, action: str = "rollback", failure_limit: int = 3, **gate: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": f"{service}-canary", "namespace": "shop"},
        "spec": {
            "service": service,
            "owner": "team-payments",
            "objective": 99.9,
            "indicator": {
                "ratio": {
                    "errors": f'sum(rate(http_requests_total{{service="{service}",track="canary",code=~"5.."}}[{{{{.window}}}}]))',
                    "total": f'sum(rate(http_requests_total{{service="{service}",track="canary"}}[{{{{.window}}}}]))',
                }
            },
            "gate": {
                "selector": {"matchLabels": {"app": "checkout", "track": "canary"}},
                "action": action,
                "failureLimit": failure_limit,
                **gate,
            },
        },
    }


def gate_status(env: Env, name: str) -> dict[str, Any]:
    return env.status("slos", "shop", name).get("gate") or {}


def deployment(env: Env, name: str = "checkout-canary") -> dict[str, Any]:
    return env.emu.get("deployments", "shop", name)


async def test_canary_errors_roll_back_to_revision_1_after_exactly_failure_limit_failures(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    exporter.set_traffic("stable", rps=20, error_ratio=0.0, service="rb")
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="rb")
    async with operator_env(prom, tmp_path) as env:
        make_rollout(env.emu)
        env.emu.create(gated_slo("rb", failure_limit=3))
        await env.wait(lambda: gate_status(env, "rb-canary").get("state") == "Acted", timeout=90, message="the gate to act")
        status = gate_status(env, "rb-canary")
        assert status["consecutiveFailures"] == 3
        action = status["lastAction"]
        assert (action["action"], action["target"], action["fromRevision"], action["toRevision"], action["dryRun"]) == ("rollback", "checkout-canary", "2", "1", False)
        assert action["value"] > action["threshold"] == pytest.approx(14.4 * 0.001)
        assert "slo:error_ratio" in action["query"] and action["time"].endswith("Z")
        dep = deployment(env)
        assert dep["spec"]["template"] == template("checkout:v1")  # revision 1's template, pod-template-hash dropped
        assert dep["metadata"]["annotations"]["kpi.dev/gate-acted-revision"] == "2"
        await env.wait(lambda: env.emu.events("shop", name="rb-canary", reason="GateActed"), message="Event on the SLO")
        await env.wait(lambda: env.emu.events("shop", name="checkout-canary", reason="GateActed"), message="Event on the Deployment")


async def test_pause_sets_paused_and_scale_to_zero_remembers_the_replicas(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="pz")
    async with operator_env(prom, tmp_path) as env:
        make_rollout(env.emu, name="checkout-canary")
        env.emu.create(gated_slo("pz", action="pause", failure_limit=1))
        await env.wait(lambda: deployment(env)["spec"].get("paused") is True, timeout=90, message="paused")
        assert deployment(env)["spec"]["template"] == template("checkout:v2")  # paused, not rolled back
        env.emu.delete_object("slos", "shop", "pz-canary")
        await env.wait(lambda: env.emu.get("slos", "shop", "pz-canary") is None)

        env.emu.delete_object("deployments", "shop", "checkout-canary")
        make_rollout(env.emu, name="checkout-canary")
        env.emu.create(gated_slo("pz", action="scaleToZero", failure_limit=1))
        try:
            await env.wait(lambda: deployment(env)["spec"]["replicas"] == 0, timeout=90, message="scaled to zero")
        except TimeoutError:
            # This wait failed twice in about 40 runs of this module (not reproduced alone): show what the gate saw.
            state = {"slo": env.emu.get("slos", "shop", "pz-canary"), "deployment": deployment(env), "replicasets": env.emu.list("replicasets", "shop")}
            print("state at the timeout:", json.dumps(state, indent=1, default=str))
            raise
        assert deployment(env)["metadata"]["annotations"]["kpi.dev/replicas-before-scale-to-zero"] == "3"


async def test_a_healthy_canary_is_never_touched(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.0, service="ok")
    async with operator_env(prom, tmp_path) as env:
        before = make_rollout(env.emu)
        env.emu.create(gated_slo("ok", failure_limit=1))
        await env.wait(lambda: (gate_status(env, "ok-canary").get("verdict") or {}).get("verdict") == "pass", timeout=60, message="a pass")
        await cycles(env.runtime, 8)  # eight more evaluations: the assertion is that nothing happens in them
        assert deployment(env)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert gate_status(env, "ok-canary")["state"] == "Armed"
        assert gate_status(env, "ok-canary").get("lastAction") is None


async def test_no_data_is_inconclusive_and_prometheus_down_is_an_error_and_neither_acts(tmp_path: Path) -> None:
    exporter = Exporter(service="unused").start()
    prom = PrometheusServer([exporter.target]).start()
    try:
        async with operator_env(prom, tmp_path) as env:
            before = make_rollout(env.emu)
            env.emu.create(gated_slo("nodata", failure_limit=1))  # no traffic at all for this service
            await env.wait(lambda: (gate_status(env, "nodata-canary").get("verdict") or {}).get("verdict") == "inconclusive", timeout=60)
            await asyncio.to_thread(prom.halt)
            await env.wait(lambda: env.status("slos", "shop", "nodata-canary").get("state") == "Unknown", timeout=30)
            await env.wait(lambda: gate_status(env, "nodata-canary")["verdict"]["verdict"] == "error", timeout=30)
            assert "never acts" in gate_status(env, "nodata-canary")["verdict"]["reason"]
            assert deployment(env)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
            assert gate_status(env, "nodata-canary").get("lastAction") is None
    finally:
        prom.stop()
        exporter.stop()


async def test_a_restart_right_after_acting_does_not_act_again_and_a_new_revision_rearms(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="rs")
    async with KubeEmulator(crds=load_crds(CRDS), deployment_controller=True) as emu:
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
        make_rollout(emu)
        emu.create(gated_slo("rs", failure_limit=1))
        async with running_operator(emu, prom.url, kubeconfig), RuleSync(emu, prom):
            await _until(lambda: ((emu.get("slos", "shop", "rs-canary").get("status") or {}).get("gate") or {}).get("state") == "Acted", 90)
        # The controller renumbered the restored template (revision 1's) as revision 3.
        assert emu.get("deployments", "shop", "checkout-canary")["metadata"]["annotations"][REVISION] == "3"
        acted = copy.deepcopy(emu.get("deployments", "shop", "checkout-canary"))
        async with running_operator(emu, prom.url, kubeconfig) as (runtime, _), RuleSync(emu, prom):
            await _until(lambda: runtime.telemetry.last_cycle is not None, 30)
            await cycles(runtime, 5)  # five more failing evaluations after the restart: none may act
            assert emu.get("deployments", "shop", "checkout-canary")["metadata"]["resourceVersion"] == acted["metadata"]["resourceVersion"]
            assert runtime.telemetry.gate_actions.labels("rollback", "false")._value.get() == 0

            # A new rollout (revision 4, still failing) re-arms the gate, which rolls it back to revision 3.
            emu.patch_object("deployments", "shop", "checkout-canary", {"spec": {"template": template("checkout:v4")}})
            await _until(lambda: emu.get("slos", "shop", "rs-canary")["status"]["gate"]["lastAction"]["fromRevision"] == "4", 60)
            assert runtime.telemetry.gate_actions.labels("rollback", "false")._value.get() == 1
            status = emu.get("slos", "shop", "rs-canary")["status"]["gate"]
            assert status["lastAction"]["fromRevision"] == "4" and status["lastAction"]["toRevision"] == "3"
            assert emu.get("deployments", "shop", "checkout-canary")["spec"]["template"] == template("checkout:v1")


async def test_dry_run_says_what_it_would_do_and_changes_nothing(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="dry")
    async with operator_env(prom, tmp_path) as env:
        before = make_rollout(env.emu)
        env.emu.create(gated_slo("dry", failure_limit=2, dryRun=True))
        await env.wait(lambda: gate_status(env, "dry-canary").get("state") == "DryRun", timeout=90, message="DryRun")
        action = gate_status(env, "dry-canary")["lastAction"]
        assert action["dryRun"] is True and action["action"] == "rollback" and action["toRevision"] == "1"
        await cycles(env.runtime, 3)
        assert deployment(env)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        await env.wait(lambda: env.emu.events("shop", name="dry-canary", reason="GateDryRun"))


async def cycles(runtime: Any, count: int) -> None:
    """Wait until the operator has run ``count`` more evaluation cycles."""
    start = runtime.telemetry.cycles._value.get()
    await _until(lambda: runtime.telemetry.cycles._value.get() >= start + count, 30 + 3 * count)


async def _until(predicate: Any, timeout: float = 30.0) -> Any:
    from support.kopf_runner import wait_for

    return await wait_for(predicate, timeout=timeout, interval=0.1)
