"""An SLO named like a PrometheusRule the operator did not make never overwrites or deletes it (issue 11, item 2).

The operator runs in-process against the emulated API (over HTTP), with a real Prometheus evaluating the rules
it writes. A hand-written PrometheusRule (no ``app.kubernetes.io/managed-by=kpi-operator`` label, no owner) is
left exactly as it is (same ``resourceVersion``, same spec) when an SLO of its name is applied, retried and
deleted, valid or not; the SLO is ``Stalled/RuleNameTaken`` saying who has the name, with an Event, and gets its
rule once the hand-written one is deleted by its owner. A rule the operator made for an earlier SLO of the same
name (deleted and re-created while the operator was down, the rule orphaned) is adopted. A control SLO in the
same namespace keeps its rule and is evaluated throughout.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from kpi_operator.runtime import handlers
from kpi_operator_devtools.prometheus_server import PrometheusServer
from kpi_operator_devtools.synthetic_exporter import Exporter
from support.kube_emulator import KubeEmulator, load_crds
from support.kopf_runner import wait_for
from support.operator_env import CRDS, Env, operator_env, running_operator

pytestmark = [pytest.mark.e2e, pytest.mark.hostile, pytest.mark.asyncio]

MANAGED_BY = "app.kubernetes.io/managed-by"


@pytest.fixture(scope="module")
def prom() -> Any:
    exporter = Exporter(service="checkout").start()
    exporter.set_traffic("stable", rps=50.0, error_ratio=0.01)
    server = PrometheusServer([exporter.target]).start()
    try:
        server.wait_for_series('http_requests_total{service="checkout"}', timeout=30)
        yield server
    finally:
        server.stop()
        exporter.stop()


@pytest.fixture
def quick_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stalled object checks its rule's name again within a second (the default starts at 15 s)."""
    monkeypatch.setattr(handlers, "RULE_TAKEN_RETRY", 0.5)
    monkeypatch.setattr(handlers, "RULE_TAKEN_RETRY_MAX", 1.0)


@pytest.fixture
def deletions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of objects whose deletion the operator has finished handling (the handler itself runs unchanged):
    what lets a test assert on the rules after the handler, not before it ran."""
    done: list[str] = []
    original = handlers.forget_deleted_object

    async def observed(**kwargs: Any) -> None:
        await original(**kwargs)
        done.append(kwargs["event"]["object"]["metadata"]["name"])

    monkeypatch.setattr(handlers, "forget_deleted_object", observed)
    return done


def slo(name: str, errors: str = 'sum(rate(http_requests_total{service="checkout",track="stable",code=~"5.."}[{{.window}}]))') -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "service": "checkout",
            "owner": "team-payments",
            "objective": 99.0,
            "indicator": {"ratio": {"errors": errors, "total": 'sum(rate(http_requests_total{service="checkout",track="stable"}[{{.window}}]))'}},
        },
    }


def hand_rule(name: str) -> dict[str, Any]:
    """A PrometheusRule someone wrote by hand: their own labels and groups, nothing of the operator's."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": "shop", "labels": {"team": "payments"}},
        "spec": {"groups": [{"name": f"{name}-hand", "rules": [{"record": f"hand:{name.replace('-', '_')}:sum", "expr": "sum(up)"}]}]},
    }


def fingerprint(rule: dict[str, Any]) -> tuple[str, str, Any, Any]:
    meta = rule["metadata"]
    return meta["uid"], meta["resourceVersion"], copy.deepcopy(meta.get("labels")), copy.deepcopy(rule["spec"])


def stalled(env_or_emu: Any, name: str) -> dict[str, Any]:
    emu = env_or_emu.emu if isinstance(env_or_emu, Env) else env_or_emu
    for condition in ((emu.get("slos", "shop", name) or {}).get("status") or {}).get("conditions") or []:
        if condition["type"] == "Stalled":
            return condition
    return {}


def owned_by(rule: Any, slo_body: dict[str, Any]) -> bool:
    if not rule:
        return False
    meta = rule["metadata"]
    return (meta.get("labels") or {}).get(MANAGED_BY) == "kpi-operator" and [o["uid"] for o in meta.get("ownerReferences") or []] == [slo_body["metadata"]["uid"]]


async def control_is_served(env: Env, control: dict[str, Any]) -> None:
    """The control SLO has its own rule and is evaluated again after this moment (Ready, a fresh ``lastEvaluated``)."""
    before = env.status("slos", "shop", "control").get("lastEvaluated")
    await env.wait(
        lambda: env.status("slos", "shop", "control").get("lastEvaluated") not in (None, before)
        and env.condition("slos", "shop", "control", "Ready").get("status") == "True",
        timeout=60,
        message="the control SLO evaluated again",
    )
    assert owned_by(env.emu.get("prometheusrules", "shop", "control"), control)


async def test_a_hand_written_rule_is_never_changed_nor_deleted_and_its_name_is_given_back_when_it_goes(
    prom: PrometheusServer, tmp_path: Path, quick_retry: None, deletions: list[str]
) -> None:
    async with operator_env(prom, tmp_path) as env:
        control = env.emu.create(slo("control"))
        hands = {name: fingerprint(env.emu.create(hand_rule(name))) for name in ("checkout", "payments")}
        env.emu.create(slo("checkout"))
        payments = env.emu.create(slo("payments"))

        for name in ("checkout", "payments"):
            await env.wait(lambda n=name: stalled(env, n).get("reason") == "RuleNameTaken", message=f"{name} Stalled/RuleNameTaken")
            message = stalled(env, name)["message"]
            assert message == (
                f"PrometheusRule shop/{name} exists and was not made by kpi-operator (no label {MANAGED_BY}=kpi-operator); "
                "rename the SLO or delete that rule."
            )
            assert env.condition("slos", "shop", name, "Ready")["status"] == "False"
            assert "lastAppliedGeneration" not in env.status("slos", "shop", name)
            events = await env.wait(lambda n=name: env.emu.events("shop", name=n, reason="RuleNameTaken"), message="a RuleNameTaken Event")
            assert events and events[0]["type"] == "Warning" and events[0]["message"] == message
        # Several retries find the name still taken: the hand rules are untouched, and one Event was enough.
        await env.wait(lambda: env.runtime.telemetry.reconciles.labels("SLO", "taken")._value.get() >= 6, message="retries")
        for name, before in hands.items():
            assert fingerprint(env.emu.get("prometheusrules", "shop", name)) == before
            assert len(env.emu.events("shop", name=name, reason="RuleNameTaken")) == 1
        await control_is_served(env, control)

        # Deleting the stalled SLO leaves the hand rule of its name.
        env.emu.delete_object("slos", "shop", "checkout")
        await env.wait(lambda: "checkout" in deletions, message="the deletion handled")
        assert fingerprint(env.emu.get("prometheusrules", "shop", "checkout")) == hands["checkout"]

        # The hand rule's owner deletes it: the stalled SLO gets its own rule and is served.
        env.emu.delete_object("prometheusrules", "shop", "payments")
        await env.wait(lambda: owned_by(env.emu.get("prometheusrules", "shop", "payments"), payments), timeout=30, message="the SLO's own rule")
        await env.wait(lambda: stalled(env, "payments").get("status") == "False", message="payments no longer stalled")
        await env.wait(lambda: env.condition("slos", "shop", "payments", "Ready").get("status") == "True", timeout=60, message="payments Ready")
        assert env.status("slos", "shop", "payments")["lastAppliedGeneration"] == 1
        await control_is_served(env, control)
        assert fingerprint(env.emu.get("prometheusrules", "shop", "checkout")) == hands["checkout"]


async def test_deleting_an_invalid_slo_leaves_the_hand_written_rule_of_its_name(prom: PrometheusServer, tmp_path: Path, deletions: list[str]) -> None:
    async with operator_env(prom, tmp_path) as env:
        control = env.emu.create(slo("control"))
        before = fingerprint(env.emu.create(hand_rule("broken")))
        env.emu.create(slo("broken", errors='sum(rate(http_requests_total{code=~"5.."}[{{.window}}])'))  # one ")" short
        await env.wait(lambda: stalled(env, "broken").get("reason") == "InvalidSpec", message="broken Stalled/InvalidSpec")
        assert fingerprint(env.emu.get("prometheusrules", "shop", "broken")) == before

        env.emu.delete_object("slos", "shop", "broken")
        await env.wait(lambda: "broken" in deletions, message="the deletion handled")
        assert fingerprint(env.emu.get("prometheusrules", "shop", "broken")) == before
        await control_is_served(env, control)


async def test_a_rule_made_for_an_earlier_slo_of_the_name_is_adopted_by_the_re_created_one(prom: PrometheusServer, tmp_path: Path) -> None:
    """The SLO is deleted with its rule orphaned (``kubectl delete --cascade=orphan``) and re-created from Git
    while the operator is down; the operator then finds a rule of its own make naming the earlier uid."""
    async with KubeEmulator(crds=load_crds(CRDS)) as emu:
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
        control = emu.create(slo("control"))
        earlier = emu.create(slo("checkout"))
        async with running_operator(emu, prom.url, kubeconfig) as (_, operator):
            await wait_for(lambda: owned_by(emu.get("prometheusrules", "shop", "checkout"), earlier), timeout=30, interval=0.1, operator=operator)
            await wait_for(lambda: owned_by(emu.get("prometheusrules", "shop", "control"), control), timeout=30, interval=0.1, operator=operator)
        made = emu.get("prometheusrules", "shop", "checkout")

        emu.delete_object("slos", "shop", "checkout", propagation_policy="Orphan")
        again = emu.create(slo("checkout"))
        assert again["metadata"]["uid"] != earlier["metadata"]["uid"]
        assert emu.get("prometheusrules", "shop", "checkout")["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]

        async with running_operator(emu, prom.url, kubeconfig) as (runtime, operator):
            await wait_for(lambda: owned_by(emu.get("prometheusrules", "shop", "checkout"), again), timeout=30, interval=0.1, operator=operator)
            rule = emu.get("prometheusrules", "shop", "checkout")
            assert rule["metadata"]["uid"] == made["metadata"]["uid"]  # the same rule, taken over, not re-made
            assert rule["spec"] == made["spec"]
            adopted = await wait_for(lambda: emu.events("shop", name="checkout", reason="RuleAdopted"), timeout=30, interval=0.1, operator=operator)
            assert adopted and earlier["metadata"]["uid"] in adopted[0]["message"]
            await wait_for(lambda: runtime.store.get(("SLO", "shop", "control")) is not None and runtime.telemetry.last_cycle is not None, timeout=30, interval=0.1, operator=operator)
            await wait_for(lambda: (emu.get("slos", "shop", "checkout").get("status") or {}).get("lastEvaluated"), timeout=60, interval=0.1, operator=operator)
            assert stalled(emu, "checkout").get("status") == "False"
            assert owned_by(emu.get("prometheusrules", "shop", "control"), control)
            await wait_for(lambda: (emu.get("slos", "shop", "control").get("status") or {}).get("lastEvaluated"), timeout=60, interval=0.1, operator=operator)


async def test_a_rule_replaced_by_hand_between_the_read_and_the_write_or_delete_is_left_alone(
    prom: PrometheusServer, tmp_path: Path, quick_retry: None, deletions: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race made deterministic: right after the operator reads its own rule, a person replaces it by a
    hand-written one of the same name. The delete (uid and resourceVersion preconditions) and the patch (the read
    resourceVersion) then get 409 Conflict from the API server instead of destroying the person's rule."""
    from kpi_operator.adapters.kube import KubeClient

    original = KubeClient.get_prometheus_rule
    armed: set[str] = set()
    async with operator_env(prom, tmp_path) as env:

        async def replaced_after_the_read(self: KubeClient, namespace: str, name: str) -> Any:
            rule = await original(self, namespace, name)
            if name in armed and rule is not None:
                armed.discard(name)
                env.emu.delete_object("prometheusrules", namespace, name)
                env.emu.create(hand_rule(name))
            return rule

        monkeypatch.setattr(KubeClient, "get_prometheus_rule", replaced_after_the_read)
        control = env.emu.create(slo("control"))
        leaving, changing, swapped = env.emu.create(slo("leaving")), env.emu.create(slo("changing")), env.emu.create(slo("swapped"))
        for body in (leaving, changing, swapped):
            await env.wait(lambda b=body: owned_by(env.emu.get("prometheusrules", "shop", b["metadata"]["name"]), b), message="the SLOs' rules")

        # Deleted with its rule orphaned (so the garbage collector does not delete it first): the operator reads
        # its own rule, which is replaced before its delete.
        armed.add("leaving")
        env.emu.delete_object("slos", "shop", "leaving", propagation_policy="Orphan")
        await env.wait(lambda: "leaving" in deletions, message="the deletion handled")
        assert not armed
        rule = env.emu.get("prometheusrules", "shop", "leaving")
        assert rule is not None and rule["metadata"]["labels"] == {"team": "payments"}

        # A spec change: the operator reads its own rule (create answered 409), which is replaced before its patch.
        armed.add("changing")
        hand_spec = hand_rule("changing")["spec"]
        env.emu.patch_object("slos", "shop", "changing", {"spec": {"objective": 99.5}})
        await env.wait(lambda: stalled(env, "changing").get("reason") == "RuleNameTaken", message="changing Stalled/RuleNameTaken")
        assert not armed
        rule = env.emu.get("prometheusrules", "shop", "changing")
        assert rule["spec"] == hand_spec and rule["metadata"]["labels"] == {"team": "payments"} and not rule["metadata"].get("ownerReferences")
        await control_is_served(env, control)

        # The operator's rule deleted and a hand-written one put in its place: the labelled rule's DELETED event
        # reaches the operator, which must not "restore" its rule over the person's.
        env.emu.delete_object("prometheusrules", "shop", "swapped")
        before = fingerprint(env.emu.create(hand_rule("swapped")))
        events = await env.wait(lambda: env.emu.events("shop", name="swapped", reason="RuleNameTaken"), message="a RuleNameTaken Event")
        assert "PrometheusRule shop/swapped exists and was not made by kpi-operator" in events[0]["message"]
        assert fingerprint(env.emu.get("prometheusrules", "shop", "swapped")) == before
        await control_is_served(env, control)
