"""The operator end to end: KPI/SLO -> PrometheusRule -> real Prometheus -> status, on the emulated Kubernetes API.

One Prometheus server and one exporter serve the whole module: the exporter's ``checkout`` service sends 50
requests/s on the ``stable`` track with exactly 1% errors (the exporter counts errors as floor(N x 0.01)), and a
gauge ``checkout_conversion_ratio`` of 0.042. Each test gets its own emulator and operator, and its own object
names so that recorded series never mix.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from kpi_operator_devtools.prometheus_server import PrometheusServer
from kpi_operator_devtools.synthetic_exporter import Exporter
from support.kube_emulator import ApiError
from support.operator_env import Env, operator_env, running_operator

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

ERROR_RATIO = 0.01
RPS = 50.0


@pytest.fixture(scope="module")
def metrics() -> Any:
    exporter = Exporter(service="checkout").start()
    exporter.set_traffic("stable", rps=RPS, error_ratio=ERROR_RATIO)
    exporter.set_gauge("checkout_conversion_ratio", 0.042)
    prom = PrometheusServer([exporter.target]).start()
    try:
        prom.wait_for_series('http_requests_total{service="checkout"}', timeout=30)
        yield exporter, prom
    finally:
        prom.stop()
        exporter.stop()


def slo(name: str, objective: float = 99.9, namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": name, "namespace": namespace, "labels": {"release": "prometheus"}},
        "spec": {
            "service": "checkout",
            "owner": "team-payments",
            "objective": objective,
            "indicator": {
                "ratio": {
                    "errors": 'sum(rate(http_requests_total{service="checkout",track="stable",code=~"5.."}[{{.window}}]))',
                    "total": 'sum(rate(http_requests_total{service="checkout",track="stable"}[{{.window}}]))',
                }
            },
        },
    }
    body["spec"].update(spec)
    return body


def kpi(name: str, query: str, namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "KPI",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"owner": "team-growth", "query": query, "window": "30s", "target": {"op": ">=", "value": 0.03}, **spec},
    }


def ready(env: Env, plural: str, ns: str, name: str) -> bool:
    return env.condition(plural, ns, name, "Ready").get("status") == "True"


async def test_an_slo_becomes_rules_in_prometheus_and_its_status_matches_the_injected_error_ratio(metrics: Any, tmp_path: Path) -> None:
    """Tolerance: the 5m error ratio of a deterministic 1% is within 0.01 +- 0.002 once a few scrapes are in."""
    _, prom = metrics
    async with operator_env(prom, tmp_path) as env:
        created = env.emu.create(slo("avail-1"))
        rule = await env.wait(lambda: env.emu.get("prometheusrules", "shop", "avail-1"), message="the PrometheusRule")
        assert [g["name"] for g in rule["spec"]["groups"]] == [
            "kpi-operator-slo-sli:shop:avail-1",
            "kpi-operator-slo-meta:shop:avail-1",
            "kpi-operator-slo-alerts:shop:avail-1",
        ]
        owner = rule["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("SLO", "avail-1", created["metadata"]["uid"], True)
        assert rule["metadata"]["labels"] == {"release": "prometheus", "app.kubernetes.io/managed-by": "kpi-operator"}
        await env.wait(lambda: "shop__avail-1" in env.sync.synced, message="rules loaded into Prometheus")
        assert env.sync.errors == []

        def converged() -> Any:
            status = env.status("slos", "shop", "avail-1")
            burn = (status.get("burnRates") or {}).get("5m")
            sli = status.get("sli")
            ok = burn is not None and abs(burn - ERROR_RATIO / 0.001) <= 2.0 and sli is not None and abs(sli - 99.0) <= 0.2
            return status if ok else None

        # One snapshot: the status keeps moving while the period window fills, so every assertion reads the same one.
        status = await env.wait(converged, timeout=60, message="SLI ~99% and 5m burn rate ~10x")
        assert ready(env, "slos", "shop", "avail-1")
        assert status["observedGeneration"] == 1
        assert status["definition"]["version"] == 1
        assert status["state"] in ("Healthy", "Warning", "Critical")  # 10x burns a 99.9% budget: the page fires soon
        # 1% errors against a 0.1% budget: the period so far spent 10 budgets, so about -9 remain (1 - 10); with the
        # SLI within 99 +- 0.2 (checked above, same snapshot) the remaining budget is within -9 +- 2 (the same records feed both).
        assert status["errorBudget"]["remaining"] == pytest.approx(1 - (1 - status["sli"] / 100) / 0.001, abs=1.0)
        assert -12 <= status["errorBudget"]["remaining"] <= -7
        assert status["lastEvaluated"].endswith("Z")
        # Status writes never re-trigger the spec handlers: five more cycles, still the one reconcile of the create.
        cycles = env.runtime.telemetry.cycles._value.get()
        await env.wait(lambda: env.runtime.telemetry.cycles._value.get() >= cycles + 5, message="five more cycles")
        assert env.runtime.telemetry.reconciles.labels("SLO", "created")._value.get() == 1
        assert sum(env.runtime.telemetry.reconciles.labels("SLO", r)._value.get() for r in ("updated", "unchanged", "invalid")) == 0


async def test_a_kpi_status_value_matches_the_exporters_known_values(metrics: Any, tmp_path: Path) -> None:
    """The gauge is exactly 0.042; the request rate is 50/s, read over 30s (tolerance +-5/s while it fills)."""
    _, prom = metrics
    async with operator_env(prom, tmp_path) as env:
        env.emu.create(kpi("conversion-1", "avg(checkout_conversion_ratio)", thresholds={"warning": 0.028, "critical": 0.025}))
        env.emu.create(kpi("throughput-1", 'sum(rate(http_requests_total{service="checkout",track="stable"}[{{.window}}]))', target={"op": ">=", "value": 10}))
        await env.wait(lambda: env.status("kpis", "shop", "conversion-1").get("value") == 0.042, timeout=60, message="KPI value 0.042")
        assert env.status("kpis", "shop", "conversion-1")["state"] == "Healthy"
        await env.wait(lambda: abs((env.status("kpis", "shop", "throughput-1").get("value") or 0) - RPS) <= 5, timeout=60, message="KPI value ~50/s")
        assert ready(env, "kpis", "shop", "throughput-1")


async def test_editing_the_objective_bumps_the_definition_and_editing_a_label_does_not(metrics: Any, tmp_path: Path) -> None:
    _, prom = metrics
    async with operator_env(prom, tmp_path) as env:
        env.emu.create(slo("avail-2"))
        await env.wait(lambda: env.status("slos", "shop", "avail-2").get("definition", {}).get("version") == 1)
        first_hash = env.status("slos", "shop", "avail-2")["definition"]["hash"]

        env.emu.patch_object("slos", "shop", "avail-2", {"spec": {"objective": 99.5}})

        def objective_rule() -> str:
            rule = env.emu.get("prometheusrules", "shop", "avail-2")
            meta = next(g for g in rule["spec"]["groups"] if "meta" in g["name"])
            return next(r["expr"] for r in meta["rules"] if r["record"] == "slo:objective:ratio")

        await env.wait(lambda: objective_rule() == "vector(0.995)", message="rules with the new objective")
        await env.wait(lambda: env.status("slos", "shop", "avail-2")["definition"]["version"] == 2)
        status = env.status("slos", "shop", "avail-2")
        assert status["definition"]["hash"] != first_hash
        assert status["observedGeneration"] == 2
        events = env.emu.events("shop", name="avail-2", reason="DefinitionChanged")
        assert len(events) == 1 and "version 1" in events[0]["message"] and "version 2" in events[0]["message"]

        env.emu.patch_object("slos", "shop", "avail-2", {"metadata": {"labels": {"team": "payments"}}})
        await env.wait(lambda: env.emu.get("prometheusrules", "shop", "avail-2")["metadata"]["labels"].get("team") == "payments", message="labels copied")
        await asyncio.sleep(0)  # nothing to wait for: the version must simply still be 2
        assert env.status("slos", "shop", "avail-2")["definition"]["version"] == 2
        assert len(env.emu.events("shop", name="avail-2", reason="DefinitionChanged")) == 1


async def test_deleting_an_slo_deletes_its_prometheus_rule(metrics: Any, tmp_path: Path) -> None:
    _, prom = metrics
    async with operator_env(prom, tmp_path) as env:
        env.emu.create(slo("avail-3"))
        await env.wait(lambda: env.emu.get("prometheusrules", "shop", "avail-3"))
        env.emu.delete_object("slos", "shop", "avail-3")
        await env.wait(lambda: env.emu.get("prometheusrules", "shop", "avail-3") is None, message="the PrometheusRule gone")
        await env.wait(lambda: env.emu.get("slos", "shop", "avail-3") is None, message="the SLO gone (finalizer released)")


async def test_a_hand_edited_prometheus_rule_is_put_back(metrics: Any, tmp_path: Path) -> None:
    _, prom = metrics
    async with operator_env(prom, tmp_path) as env:
        env.emu.create(slo("avail-4"))
        rule = await env.wait(lambda: env.emu.get("prometheusrules", "shop", "avail-4"))
        original = copy.deepcopy(rule["spec"])
        env.emu.patch_object("prometheusrules", "shop", "avail-4", {"spec": {"groups": []}})
        await env.wait(lambda: env.emu.get("prometheusrules", "shop", "avail-4")["spec"] == original, message="the rule put back")


async def test_invalid_objects_are_refused_or_stalled_and_the_others_keep_being_served(metrics: Any, tmp_path: Path) -> None:
    _, prom = metrics
    async with operator_env(prom, tmp_path) as env:
        env.emu.create(slo("good-1"))
        # The schema refuses it, as the API server would (kubectl apply fails), naming the field.
        with pytest.raises(ApiError) as refused:
            env.emu.create(slo("bad-schema", objective=100))
        assert refused.value.code == 422 and "spec.objective" in refused.value.message

        # The schema cannot parse PromQL: the API server accepts it, the operator stalls it with the field.
        broken = slo("bad-promql")
        broken["spec"]["indicator"]["ratio"]["errors"] = "sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}])"
        env.emu.create(broken)
        await env.wait(lambda: env.condition("slos", "shop", "bad-promql", "Stalled").get("status") == "True", message="Stalled")
        stalled = env.condition("slos", "shop", "bad-promql", "Stalled")
        assert stalled["reason"] == "InvalidSpec"
        assert "spec.indicator.ratio.errors" in stalled["message"] and "PromQL" in stalled["message"]
        assert env.emu.get("prometheusrules", "shop", "bad-promql") is None
        assert env.emu.events("shop", name="bad-promql", reason="InvalidSpec")

        # A valid SLO made invalid keeps its last good rules, and says so.
        await env.wait(lambda: env.emu.get("prometheusrules", "shop", "good-1"))
        good_rule = env.emu.get("prometheusrules", "shop", "good-1")["spec"]
        env.emu.patch_object("slos", "shop", "good-1", {"spec": {"indicator": {"ratio": {"total": "sum(rate(x[{{.window}}])"}}}})
        await env.wait(lambda: env.condition("slos", "shop", "good-1", "Stalled").get("status") == "True")
        assert "generation 1 stays in place" in env.condition("slos", "shop", "good-1", "Stalled")["message"]
        assert env.emu.get("prometheusrules", "shop", "good-1")["spec"] == good_rule

        # Every other object is still served.
        env.emu.create(slo("good-2"))
        await env.wait(lambda: ready(env, "slos", "shop", "good-2"), timeout=60, message="good-2 Ready")


async def test_prometheus_down_makes_objects_unknown_and_its_return_makes_them_ready(tmp_path: Path) -> None:
    exporter = Exporter(service="checkout").start()
    exporter.set_traffic("stable", rps=RPS, error_ratio=ERROR_RATIO)
    prom = PrometheusServer([exporter.target]).start()
    try:
        async with operator_env(prom, tmp_path) as env:
            env.emu.create(slo("avail-5"))
            await env.wait(lambda: ready(env, "slos", "shop", "avail-5") and env.status("slos", "shop", "avail-5").get("burnRates"), timeout=60)
            await asyncio.to_thread(prom.halt)
            await env.wait(lambda: env.status("slos", "shop", "avail-5").get("state") == "Unknown", timeout=30, message="Unknown")
            stalled = env.condition("slos", "shop", "avail-5", "Ready")
            assert stalled["status"] == "False" and stalled["reason"] == "PrometheusUnavailable"
            assert prom.url in stalled["message"] and "unreachable" in stalled["message"]
            await env.wait(lambda: env.emu.events("shop", name="avail-5", reason="PrometheusUnavailable"), message="a Warning Event")
            before = env.status("slos", "shop", "avail-5")["lastEvaluated"]
            await asyncio.to_thread(prom.resume)
            await env.wait(
                lambda: ready(env, "slos", "shop", "avail-5") and env.status("slos", "shop", "avail-5")["lastEvaluated"] != before,
                timeout=60,
                message="Ready again with a fresh evaluation",
            )
            assert env.status("slos", "shop", "avail-5")["state"] != "Unknown"
    finally:
        prom.stop()
        exporter.stop()


async def test_an_operator_restart_creates_no_duplicates_keeps_status_and_runs_no_handler_storm(metrics: Any, tmp_path: Path) -> None:
    from support.kube_emulator import KubeEmulator, load_crds
    from support.operator_env import CRDS

    _, prom = metrics
    async with KubeEmulator(crds=load_crds(CRDS)) as emu:
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
        for index in range(3):
            emu.create(slo(f"restart-{index}"))
        async with running_operator(emu, prom.url, kubeconfig) as (runtime, operator):
            for index in range(3):
                await _until(lambda i=index: (emu.get("slos", "shop", f"restart-{i}").get("status") or {}).get("definition"))
        rules_before = {r["metadata"]["name"]: r["metadata"]["resourceVersion"] for r in emu.list("prometheusrules")}
        status_before = {s["metadata"]["name"]: s["status"]["definition"] for s in emu.list("slos")}
        async with running_operator(emu, prom.url, kubeconfig) as (runtime, operator):
            await _until(lambda: sum(runtime.telemetry.reconciles.labels("SLO", r)._value.get() for r in ("created", "updated", "unchanged")) >= 3)
            await _until(lambda: runtime.telemetry.last_cycle is not None)
            reconciles = {r: runtime.telemetry.reconciles.labels("SLO", r)._value.get() for r in ("created", "updated", "unchanged")}
        assert reconciles == {"created": 0, "updated": 0, "unchanged": 3}, reconciles
        assert {r["metadata"]["name"]: r["metadata"]["resourceVersion"] for r in emu.list("prometheusrules")} == rules_before
        assert {s["metadata"]["name"]: s["status"]["definition"] for s in emu.list("slos")} == status_before


async def _until(predicate: Any, timeout: float = 30.0) -> Any:
    from support.kopf_runner import wait_for

    return await wait_for(predicate, timeout=timeout, interval=0.1)


async def test_a_rule_the_api_server_refuses_stalls_its_object_with_the_reason_and_a_failing_write_is_retried(metrics: Any, tmp_path: Path) -> None:
    """Faults as real HTTP answers of the API server: a 422 with a Status body (an admission webhook refusing the
    rule) for every rule written in one namespace, and two 503s for the first writes in another."""
    import kmock

    _, prom = metrics
    refusal = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422,
               "message": 'admission webhook "rules.policy.example" denied the request: too many rules'}
    async with operator_env(prom, tmp_path) as env:
        refusing = env.emu["post", kmock.resource("monitoring.coreos.com/v1/prometheusrules"), kmock.namespace("refused")] << 422 << refusal
        env.emu["post", kmock.resource("monitoring.coreos.com/v1/prometheusrules"), kmock.namespace("flaky")][:2] << 503
        env.emu.create(slo("refused-1", namespace="refused"))
        env.emu.create(slo("flaky-1", namespace="flaky"))
        env.emu.create(slo("served-1"))

        await env.wait(lambda: env.condition("slos", "refused", "refused-1", "Stalled").get("status") == "True", message="Stalled")
        stalled = env.condition("slos", "refused", "refused-1", "Stalled")
        assert stalled["reason"] == "RuleRejected" and "denied the request: too many rules" in stalled["message"]
        assert env.condition("slos", "refused", "refused-1", "Ready")["status"] == "False"
        assert "lastAppliedGeneration" not in env.status("slos", "refused", "refused-1")
        assert env.emu.events("refused", name="refused-1", reason="RuleRejected")

        await env.wait(lambda: env.emu.get("prometheusrules", "flaky", "flaky-1"), timeout=60, message="the rule written after the retries")
        assert env.emu.events("flaky", name="flaky-1", reason="RuleWritePending")
        await env.wait(lambda: ready(env, "slos", "flaky", "flaky-1"), timeout=60, message="flaky-1 Ready")
        await env.wait(lambda: ready(env, "slos", "shop", "served-1"), timeout=60, message="served-1 Ready")
        # A refusal is not retried: the same rule would be refused again. (Several evaluation cycles pass.)
        await asyncio.sleep(3)
        assert len(list(refusing)) == 1
        assert env.condition("slos", "refused", "refused-1", "Stalled")["reason"] == "RuleRejected"
