"""The gate under API faults answered over real HTTP by the emulated API: a refused act is not an act, and a
failed read is not "no Deployment".

kubernetes_asyncio raises on a non-2xx answer only when it preloads the body; the gate's calls read raw, so these
tests fail unless every call checks its status (issue: "HTTP errors count as success").
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import kmock
import pytest

from e2e.test_gate import deployment, gate_status, gated_slo, make_rollout, metrics, template  # noqa: F401 (fixture)
from e2e.test_gate_safety import acts_on, gate, in_process_cycles, cycles, read_record, rollout, runs
from e2e.test_gate_safety import deployment as deployment_of
from e2e.test_gate_safety import gated_slo as availability_slo
from support.operator_env import operator_env

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.asyncio]

DEPLOYMENTS = kmock.resource("apps/v1/deployments")
REPLICASETS = kmock.resource("apps/v1/replicasets")
EVENTS = kmock.resource("v1/events")


def failure(code: int, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "message": message}


async def never_answers() -> None:
    """A response that never comes (the client's timeout ends it)."""
    await asyncio.sleep(3600)


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


async def test_a_hung_deployment_list_in_one_namespace_holds_that_gate_and_the_others_act(metrics: Any, tmp_path: Path) -> None:
    """The API server never answers the list of one namespace's Deployments: that object's verdict is an error
    (after the client's timeout), and the cycle goes on: the gate in another namespace acts, once."""
    exporter, prom = metrics
    for service in ("stuck", "moving"):
        exporter.set_traffic("canary", rps=20, error_ratio=0.5, service=service)
    async with operator_env(prom, tmp_path, api_timeout=1.0) as env:
        stuck = rollout(env.emu, "stuck", ["app:v1", "app:v2"], namespace="stuck")
        rollout(env.emu, "moving", ["app:v1", "app:v2"])
        env.emu["list", DEPLOYMENTS, kmock.namespace("stuck")] << never_answers
        env.emu.create(availability_slo("stuck", namespace="stuck"))
        env.emu.create(availability_slo("moving"))
        await env.wait(lambda: acts_on(env.emu, "moving"), timeout=120, message="the gate of the namespace that answers acts")
        await env.wait(lambda: "did not answer" in ((gate(env.emu, "slos", "stuck-availability", "stuck").get("verdict") or {}).get("reason") or ""),
                       timeout=60, message="the stuck namespace's gate reports the timeout")
        await cycles(in_process_cycles(env), 5)
        assert gate(env.emu, "slos", "stuck-availability", "stuck")["verdict"]["verdict"] == "error"
        assert deployment_of(env.emu, "stuck", "stuck")["metadata"]["resourceVersion"] == stuck["metadata"]["resourceVersion"]
        assert len(acts_on(env.emu, "moving")) == 1 and runs(deployment_of(env.emu, "moving")["spec"]["template"], "moving", "app:v1")


async def test_a_failed_replicaset_list_is_an_error_verdict_and_never_an_act(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="norss")
    async with operator_env(prom, tmp_path) as env:
        before = rollout(env.emu, "norss", ["app:v1", "app:v2"])
        env.emu["list", REPLICASETS, kmock.namespace("shop")] << 500 << failure(500, "etcdserver: request timed out")
        env.emu.create(availability_slo("norss"))
        await env.wait(lambda: "etcdserver" in ((gate(env.emu, "slos", "norss-availability").get("verdict") or {}).get("reason") or ""),
                       timeout=90, message="an error verdict naming the server's message")
        await cycles(in_process_cycles(env), 5)
        assert gate(env.emu, "slos", "norss-availability")["verdict"]["verdict"] == "error"
        assert deployment_of(env.emu, "norss")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_a_hung_rollback_patch_is_not_an_act_and_the_retry_acts_once(metrics: Any, tmp_path: Path) -> None:
    """The first rollback patch gets no answer (the client gives up after its timeout): not an act, a
    GateActionFailed Event; the next failure retries and acts, once."""
    exporter, prom = metrics
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="hung")
    async with operator_env(prom, tmp_path, api_timeout=1.0) as env:
        rollout(env.emu, "hung", ["app:v1", "app:v2"])
        hung = env.emu["patch", DEPLOYMENTS, kmock.namespace("shop")][:1] << never_answers
        env.emu.create(availability_slo("hung"))
        await env.wait(lambda: acts_on(env.emu, "hung"), timeout=120, message="the retried act")
        assert len(list(hung)) == 1
        failed = env.emu.events("shop", name="hung-availability", reason="GateActionFailed")
        assert len(failed) == 1 and "did not answer" in failed[0]["message"]
        await cycles(in_process_cycles(env), 5)
        assert len(acts_on(env.emu, "hung")) == 1 and len(read_record(deployment_of(env.emu, "hung")).refused) == 1


@pytest.mark.parametrize("call", ["events", "status"])
async def test_an_act_whose_event_or_status_write_fails_is_still_done_once(metrics: Any, tmp_path: Path, call: str) -> None:
    """After the act, the Events (500) or the status write (500, twice) fail: the act stands, is not repeated,
    and the status tells it once the API answers again."""
    exporter, prom = metrics
    service = f"after{call}"
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service=service)
    async with operator_env(prom, tmp_path) as env:
        rollout(env.emu, service, ["app:v1", "app:v2", "app:v3"])
        if call == "events":
            env.emu["post", EVENTS, kmock.namespace("shop")] << 500 << failure(500, "events are down")
        else:
            env.emu["patch", kmock.resource("kpi.dev/v1alpha1/slos"), kmock.namespace("shop"),
                    lambda request: "lastAction" in request.text][:2] << 500 << failure(500, "status write lost")
        env.emu.create(availability_slo(service))
        name = f"{service}-availability"
        await env.wait(lambda: (gate(env.emu, "slos", name).get("lastAction") or {}).get("toRevision") == "2", timeout=120, message="the act in the status")
        exporter.set_traffic("canary", rps=20, error_ratio=0.0, service=service)
        await cycles(in_process_cycles(env), 10)
        after = deployment_of(env.emu, service)
        assert runs(after["spec"]["template"], service, "app:v2") and len(read_record(after).refused) == 1
