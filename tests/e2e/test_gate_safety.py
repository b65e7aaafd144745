"""Never a wrong act: the gate across crashes, lost statuses, re-created objects, two gates on one Deployment, a
rollout landing mid-act, and clock steps.

Everything is real where it matters: a real Prometheus scrapes the canary's traffic; the emulated API runs a
Deployment controller that makes ReplicaSets and renumbers a restored template as the real one does; the
operator is the shipped ``kpi-operator run`` process where a test kills it or steps its clock (libfaketime, the
process's own ``time()``), and the project's handlers in-process elsewhere. Faults are HTTP answers of the API.

Each test asserts what the issue asks of every fault: the target ends on a template nobody acted against, each
bad template is acted on at most once, and status and Events tell the truth.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Optional

import kmock
import pytest

from e2e.test_gate import metrics  # noqa: F401 (fixture)
from e2e.test_run_subprocess import Process, operator_command
from kpi_operator.adapters.kube import KubeClient, KubeError
from kpi_operator.gate import Actor, plan_action, read_record, template_hash
from support.kopf_runner import wait_for
from support.kube_emulator import KubeEmulator, load_crds
from support.operator_env import CRDS, Env, RuleSync, operator_env

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.asyncio]

SLOS = kmock.resource("kpi.dev/v1alpha1/slos")
LAST_ACT = "kpi.dev/gate-last-act"
FAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), Path("/usr/lib/faketime/libfaketime.so.1"))
REFUSED = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "message": "injected: status write lost"}


def pod_template(service: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": service, "track": "canary"}}, "spec": {"containers": [{"name": "app", "image": image}]}}


def rollout(emu: KubeEmulator, service: str, images: list[str], namespace: str = "shop") -> dict[str, Any]:
    """A canary Deployment rolled out through ``images`` one after the other; the emulated controller makes a
    ReplicaSet and a revision for each. Opted in to every gate of its namespace."""
    name = f"{service}-canary"
    emu.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": service, "track": "canary"}, "annotations": {"kpi.dev/gated-by": "*"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": service, "track": "canary"}}, "template": pod_template(service, images[0])},
        }
    )
    emu.run_controllers()  # even when the test makes the controller lag: the history is rolled out
    for image in images[1:]:
        emu.patch_object("deployments", namespace, name, {"spec": {"template": pod_template(service, image)}})
        emu.run_controllers()
    body: dict[str, Any] = emu.get("deployments", namespace, name)
    assert body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == str(len(images)), "the emulated controller numbers revisions"
    return body


def canary_errors(service: str) -> str:
    return f'sum(rate(http_requests_total{{service="{service}",track="canary",code=~"5.."}}[{{{{.window}}}}]))'


def canary_total(service: str) -> str:
    return f'sum(rate(http_requests_total{{service="{service}",track="canary"}}[{{{{.window}}}}]))'


def gated_slo(service: str, failure_limit: int = 1, namespace: str = "shop", **gate: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": f"{service}-availability", "namespace": namespace},
        "spec": {
            "service": service,
            "owner": "team-payments",
            "objective": 99.9,
            "indicator": {"ratio": {"errors": canary_errors(service), "total": canary_total(service)}},
            "gate": {"selector": {"matchLabels": {"app": service, "track": "canary"}}, "action": "rollback", "failureLimit": failure_limit, **gate},
        },
    }


def gated_kpi(service: str, query: str, for_: str = "0s", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "KPI",
        "metadata": {"name": f"{service}-kpi", "namespace": "shop"},
        "spec": {
            "owner": "team-payments",
            "query": query,
            "window": "1m",
            "for": for_,
            "gate": {"selector": {"matchLabels": {"app": service, "track": "canary"}}, "action": "rollback", "failureLimit": 1},
            **spec,
        },
    }


def deployment(emu: KubeEmulator, service: str, namespace: str = "shop") -> dict[str, Any]:
    body: dict[str, Any] = emu.get("deployments", namespace, f"{service}-canary")
    return body


def gate(emu: KubeEmulator, plural: str, name: str, namespace: str = "shop") -> dict[str, Any]:
    body = emu.get(plural, namespace, name) or {}
    return (body.get("status") or {}).get("gate") or {}


def acts_on(emu: KubeEmulator, service: str, namespace: str = "shop") -> list[dict[str, Any]]:
    return emu.events(namespace, name=f"{service}-canary", reason="GateActed")


def runs(template: dict[str, Any], service: str, image: str) -> bool:
    return template_hash(template) == template_hash(pod_template(service, image))


async def cycles(count: Callable[[], float], more: int, timeout: float = 60.0) -> None:
    """Wait until the operator has run ``more`` further evaluation cycles: the time a wrong act would need."""
    start = count()
    await wait_for(lambda: count() >= start + more, timeout=timeout, interval=0.1, message=f"{more} more evaluation cycles")


def in_process_cycles(env: Env) -> Callable[[], float]:
    return lambda: env.runtime.telemetry.cycles._value.get()


# --- two gates, one Deployment ----------------------------------------------------------------------------------


async def test_two_gates_on_one_deployment_act_once_and_never_bring_the_bad_template_back(metrics: Any, tmp_path: Path) -> None:
    """An SLO and a KPI both red on one canary (revision 3 bad): exactly one rollback, to revision 2's template;
    the other gate neither acts on the restored template (its samples from before the restore do not count) nor
    reports the act as its own."""
    exporter, prom = metrics
    service = "twogates"
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service=service)
    ratio = f'{canary_errors(service)} / {canary_total(service)}'
    async with operator_env(prom, tmp_path, emulator={"deployment_controller": True}) as env:
        before = rollout(env.emu, service, ["app:v1", "app:v2", "app:v3"])
        env.emu.create(gated_slo(service))
        env.emu.create(gated_kpi(service, ratio, target={"op": "<=", "value": 0.05}))
        await env.wait(lambda: acts_on(env.emu, service), timeout=120, message="the first act")
        exporter.set_traffic("canary", rps=20, error_ratio=0.0, service=service)  # the rollback fixed it
        await cycles(in_process_cycles(env), 20)
        after = deployment(env.emu, service)
        assert runs(after["spec"]["template"], service, "app:v2"), after["spec"]["template"]
        assert len(acts_on(env.emu, service)) == 1
        assert read_record(after).refused == (template_hash(before["spec"]["template"]),)
        gates = {"SLO": gate(env.emu, "slos", f"{service}-availability"), "KPI": gate(env.emu, "kpis", f"{service}-kpi")}
        actors = [kind for kind, status in gates.items() if status.get("lastAction")]
        assert len(actors) == 1, gates
        other = gates["KPI" if actors == ["SLO"] else "SLO"]
        assert other["state"] in ("Armed", "Failing") and other["consecutiveFailures"] == 0, other


# --- a lost status: the object re-created right after an act ---------------------------------------------------


async def test_an_slo_deleted_and_re_applied_right_after_an_act_does_not_act_again(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    service = "reapplied"
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service=service)
    async with operator_env(prom, tmp_path, emulator={"deployment_controller": True}) as env:
        rollout(env.emu, service, ["app:v1", "app:v2", "app:v3"])
        env.emu.create(gated_slo(service))
        await env.wait(lambda: acts_on(env.emu, service), timeout=120, message="the act")
        exporter.set_traffic("canary", rps=20, error_ratio=0.0, service=service)
        env.emu.delete_object("slos", "shop", f"{service}-availability")
        await env.wait(lambda: env.emu.get("slos", "shop", f"{service}-availability") is None, message="the SLO gone")
        env.emu.create(gated_slo(service))  # from Git again: no status at all
        await env.wait(lambda: gate(env.emu, "slos", f"{service}-availability").get("verdict"), timeout=60, message="the new SLO's gate")
        await cycles(in_process_cycles(env), 20)
        assert runs(deployment(env.emu, service)["spec"]["template"], service, "app:v2")
        assert len(acts_on(env.emu, service)) == 1
        status = gate(env.emu, "slos", f"{service}-availability")
        assert status["state"] == "Acted", status
        assert (status.get("lastAction") or {}).get("toRevision") == "2", "the act is recovered from the Deployment's record"
        assert status["verdict"]["verdict"] == "inconclusive" and "restored at" in status["verdict"]["reason"]


# --- a rollout landing between the gate's read and its patch ----------------------------------------------------


async def test_a_rollout_landing_between_read_and_patch_makes_the_patch_fail(tmp_path: Path) -> None:
    """The act's patch is built from the Deployment as read; a user's new template applied since (not yet rolled
    out) changes the resourceVersion, so the API server refuses the patch with 422 and the user's change stays."""
    async with KubeEmulator(crds=load_crds(CRDS), deployment_controller=True, deployment_controller_delay=3600) as emu:
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
        service = "landing"
        rollout(emu, service, ["app:v1", "app:v2"])
        kube = await KubeClient.connect(str(kubeconfig))
        try:
            read = next(d for d in await kube.list_deployments("shop") if d["metadata"]["name"] == f"{service}-canary")
            plan = plan_action("rollback", read, await kube.list_replicasets("shop"), Actor("SLO/x", time.time()))
            assert not plan.noop
            emu.patch_object("deployments", "shop", f"{service}-canary", {"spec": {"template": pod_template(service, "app:v3")}})
            with pytest.raises(KubeError) as refused:
                await kube.json_patch_deployment("shop", f"{service}-canary", plan.patch)
            assert refused.value.status == 422
        finally:
            await kube.close()
        assert runs(deployment(emu, service)["spec"]["template"], service, "app:v3"), "the user's change stays"


async def test_a_spec_change_the_controller_has_not_observed_is_not_judged(metrics: Any, tmp_path: Path) -> None:
    exporter, prom = metrics
    service = "lagging"
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service=service)
    async with operator_env(prom, tmp_path, emulator={"deployment_controller": True, "deployment_controller_delay": 3600}) as env:
        rollout(env.emu, service, ["app:v1", "app:v2"])
        env.emu.patch_object("deployments", "shop", f"{service}-canary", {"spec": {"template": pod_template(service, "app:v3")}})
        env.emu.create(gated_slo(service))
        name = f"{service}-availability"
        await env.wait(lambda: "controller" in ((gate(env.emu, "slos", name).get("verdict") or {}).get("reason") or ""),
                       timeout=120, message="the gate waiting for the controller")
        await cycles(in_process_cycles(env), 10)
        assert not acts_on(env.emu, service)
        assert runs(deployment(env.emu, service)["spec"]["template"], service, "app:v3")
        env.emu.run_controllers()  # the rollout of v3 is observed: now it is judged, and it is red
        await env.wait(lambda: acts_on(env.emu, service), timeout=60, message="the act on the observed rollout")
        assert runs(deployment(env.emu, service)["spec"]["template"], service, "app:v2")


# --- the shipped process: killed between the act and its status write, and its clock stepped ---------------------


@contextlib.asynccontextmanager
async def cluster(prom: Any, tmp_path: Path) -> AsyncIterator[tuple[KubeEmulator, Path]]:
    """The emulated API (with its Deployment controller) in this process, the rules synced into Prometheus."""
    async with KubeEmulator(crds=load_crds(CRDS), deployment_controller=True) as emu:
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
        async with RuleSync(emu, prom):
            yield emu, kubeconfig


def start_operator(kubeconfig: Path, prometheus_url: str, log: Path, metrics_port: int, env: Optional[dict[str, str]] = None) -> Process:
    argv = [
        *operator_command(), "run",
        "--kubeconfig", str(kubeconfig),
        "--prometheus-url", prometheus_url,
        "--evaluation-interval", "1",
        "--metrics-port", str(metrics_port),
        "--metrics-host", "127.0.0.1",
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KPI_OPERATOR_") and k != "KUBECONFIG"}
    environment.update(env or {})
    return Process(argv, log, env=environment)


def process_cycles(port: int) -> Callable[[], float]:
    import urllib.request

    def count() -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return 0.0
        for line in text.splitlines():
            if line.startswith("kpi_operator_evaluation_cycles_total "):
                return float(line.split()[1])
        return 0.0

    return count


async def test_an_operator_killed_between_the_act_and_its_status_write_does_not_act_again(metrics: Any, tmp_path: Path) -> None:
    """The status write after the act is refused (500), then the process is killed: the act's record is only
    on the Deployment. The next process must not judge the restored template on the old errors."""
    from e2e.test_run_subprocess import free_port

    exporter, prom = metrics
    service = "killed"
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service=service)
    name = f"{service}-availability"
    async with cluster(prom, tmp_path) as (emu, kubeconfig):
        rollout(emu, service, ["app:v1", "app:v2", "app:v3"])
        # Every status write that would record an act (it carries lastAction) is refused, until the test says.
        lost = {"on": True}
        emu["patch", SLOS, kmock.namespace("shop"), lambda request: lost["on"] and "lastAction" in request.text] << 500 << REFUSED
        emu.create(gated_slo(service))
        port = free_port()
        first = start_operator(kubeconfig, prom.url, tmp_path / "first.log", port)
        second: Optional[Process] = None
        try:
            await wait_for(lambda: LAST_ACT in (deployment(emu, service)["metadata"].get("annotations") or {}), timeout=120, interval=0.05,
                           message=f"the act; operator log:\n{first.tail()}")
            first.popen.send_signal(signal.SIGKILL)
            first.popen.wait(timeout=10)
            exporter.set_traffic("canary", rps=20, error_ratio=0.0, service=service)  # the rollback fixed it
            assert not gate(emu, "slos", name).get("lastAction"), "the status write after the act was lost"
            lost["on"] = False
            second = start_operator(kubeconfig, prom.url, tmp_path / "second.log", port)
            await wait_for(lambda: gate(emu, "slos", name).get("lastAction"), timeout=90, interval=0.1,
                           message=f"the act recovered from the Deployment; log:\n{second.tail()}")
            await cycles(process_cycles(port), 20)
            assert runs(deployment(emu, service)["spec"]["template"], service, "app:v2")
            # One act: one refused template. Its Event may be lost with the process (killed right after the
            # patch); a second one would be a second act.
            assert len(read_record(deployment(emu, service)).refused) == 1
            assert len(acts_on(emu, service)) <= 1
            status = gate(emu, "slos", name)
            assert status["state"] == "Acted" and status["lastAction"]["toRevision"] == "2", status
        finally:
            for process in (first, second):
                if process is not None:
                    process.kill()


@pytest.mark.skipif(not FAKETIME.exists(), reason="libfaketime is not installed (Debian's faketime package; `make setup` installs it)")
@pytest.mark.parametrize("step", ["+15m", "-1h"])
async def test_a_clock_step_never_makes_a_gate_act(metrics: Any, tmp_path: Path, step: str) -> None:
    """The operator's clock steps (libfaketime, the process's own clock). A KPI breached for less than its ``for``
    and a healthy SLO with ``noData: fail`` must not act: every gate holds with an error naming the skew."""
    from e2e.test_run_subprocess import free_port

    exporter, prom = metrics
    service = f"clock{'ahead' if step.startswith('+') else 'behind'}"
    kpi_service, slo_service = f"{service}k", f"{service}s"
    exporter.set_traffic("canary", rps=20, error_ratio=0.0, service=slo_service)
    exporter.set_gauge(f"{service}_conversion_ratio", 0.01)
    async with cluster(prom, tmp_path) as (emu, kubeconfig):
        before = {s: rollout(emu, s, ["app:v1", "app:v2"]) for s in (kpi_service, slo_service)}
        emu.create(gated_kpi(kpi_service, f"avg({service}_conversion_ratio)", for_="10m", target={"op": ">=", "value": 0.03},
                             thresholds={"warning": 0.028, "critical": 0.025}))
        emu.create(gated_slo(slo_service))  # noData: fail once its windows have data (below)
        clock = tmp_path / "faketime"
        clock.write_text("+0\n")
        port = free_port()
        env = {"LD_PRELOAD": str(FAKETIME), "FAKETIME_TIMESTAMP_FILE": str(clock), "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        operator = start_operator(kubeconfig, prom.url, tmp_path / "operator.log", port, env)
        kpi_name, slo_name = f"{kpi_service}-kpi", f"{slo_service}-availability"
        try:
            # The KPI's breach is younger than its for (inconclusive, or pass when a gap precedes it), the SLO healthy.
            await wait_for(lambda: (gate(emu, "kpis", kpi_name).get("verdict") or {}).get("verdict") in ("inconclusive", "pass")
                           and (gate(emu, "slos", slo_name).get("verdict") or {}).get("verdict") == "pass",
                           timeout=120, interval=0.1, message="both gates judging")
            # A healthy canary whose missing data would fail it: the case a clock ahead of Prometheus (samples that
            # look older than the freshness bound) would turn into a rollback.
            emu.patch_object("slos", "shop", slo_name, {"spec": {"gate": {"noData": "fail"}}})
            await wait_for(lambda: (emu.get("slos", "shop", slo_name)["status"].get("observedGeneration") == 2
                                    and (gate(emu, "slos", slo_name).get("verdict") or {}).get("verdict") == "pass"),
                           timeout=60, interval=0.1, message="noData: fail applied, still passing")
            clock.write_text(f"{step}\n")
            await wait_for(lambda: all("clock" in ((gate(emu, p, n).get("verdict") or {}).get("reason") or "") for p, n in (("kpis", kpi_name), ("slos", slo_name))),
                           timeout=60, interval=0.1, message=f"both gates holding on the skew; log:\n{operator.tail()}")
            await cycles(process_cycles(port), 15)
            for s, body in before.items():
                assert not acts_on(emu, s), f"{s}: acted under a clock step"
                assert deployment(emu, s)["spec"]["template"] == body["spec"]["template"]
            for plural, name in (("kpis", kpi_name), ("slos", slo_name)):
                verdict = gate(emu, plural, name)["verdict"]
                assert verdict["verdict"] == "error" and "--max-clock-skew" in verdict["reason"], verdict
        except BaseException:
            print(json.dumps({"kpi": gate(emu, "kpis", kpi_name), "slo": gate(emu, "slos", slo_name)}, indent=1), operator.tail(60))
            raise
        finally:
            operator.kill()
        assert operator.popen.returncode is not None
