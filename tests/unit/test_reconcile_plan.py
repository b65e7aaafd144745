"""The reconcile plan: what one KPI/SLO body becomes (rule, status, Events), with no cluster."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kpi_operator.api.conditions import set_condition
from kpi_operator.api.definition import definition_hash, next_definition
from kpi_operator.api.status import Definition
from kpi_operator.reconcile import ReconcilePlan, Serving, next_serving, plan_reconcile, resolve_rule_conflict, rule_write_failed

NOW = "2026-11-28T00:00:00Z"


def body(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": "api", "namespace": "shop", "uid": "u-1", "generation": 1, "labels": {"release": "p"}},
        "spec": {
            "service": "api",
            "owner": "o",
            "objective": 99.9,
            "indicator": {"ratio": {"errors": "sum(rate(e[{{.window}}]))", "total": "sum(rate(t[{{.window}}]))"}},
            **spec,
        },
    }


def test_a_valid_slo_gets_its_rule_owned_by_it_and_awaits_evaluation() -> None:
    plan = plan_reconcile(body(), "native", NOW)
    status = plan.status.to_patch()
    assert plan.rule is not None and plan.rule["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert plan.rule["metadata"]["labels"] == {"release": "p", "app.kubernetes.io/managed-by": "kpi-operator"}
    assert status["definition"]["version"] == 1 and status["lastAppliedGeneration"] == 1
    types = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert types == {"Ready": ("False", "AwaitingEvaluation"), "Reconciling": ("True", "AwaitingEvaluation"), "Stalled": ("False", "AwaitingEvaluation")}
    assert plan.events == []


def test_changing_the_objective_bumps_the_version_with_an_event_and_a_label_does_not() -> None:
    first = plan_reconcile(body(), "native", NOW)
    changed = body(objective=99.5)
    changed["status"] = first.status.to_patch()
    second = plan_reconcile(changed, "native", "2026-11-28T01:00:00Z")
    assert second.status.definition is not None and second.status.definition.version == 2
    assert second.events[0][1] == "DefinitionChanged" and "version 1" in second.events[0][2] and "version 2" in second.events[0][2]
    relabelled = body()
    relabelled["metadata"]["labels"] = {"team": "x"}
    relabelled["status"] = first.status.to_patch()
    third = plan_reconcile(relabelled, "native", NOW)
    assert third.status.definition == first.status.definition and third.events == []


def test_an_invalid_slo_is_stalled_names_the_field_and_keeps_the_last_good_rules() -> None:
    good = plan_reconcile(body(), "native", NOW)
    broken = body()
    broken["spec"]["indicator"]["ratio"]["errors"] = "sum(rate(e[{{.window}}])"
    broken["metadata"]["generation"] = 2
    broken["status"] = good.status.to_patch()
    plan = plan_reconcile(broken, "native", NOW)
    assert plan.rule is None
    stalled = plan.status.condition("Stalled")
    assert stalled is not None and stalled.status == "True" and stalled.reason == "InvalidSpec"
    assert "spec.indicator.ratio.errors" in stalled.message and "generation 1 stays in place" in stalled.message
    assert plan.events[0][:2] == ("Warning", "InvalidSpec")


def test_a_feature_the_rule_schema_cannot_express_is_stalled_with_the_field() -> None:
    plan = plan_reconcile(body(ruleSchema="sloth", alerting={"minEvents": 10}), "native", NOW)
    assert plan.rule is None
    assert "spec.alerting.minEvents" in plan.events[0][2]


def test_the_definition_ignores_what_does_not_change_the_number() -> None:
    from kpi_operator.api import parse_object

    a, _ = parse_object(body(window="28d"))
    b, _ = parse_object({**body(window="4w"), "metadata": {"name": "api", "namespace": "shop", "labels": {"x": "y"}}})
    assert definition_hash(a) == definition_hash(b)
    definition, bumped = next_definition(Definition(version=3, hash=definition_hash(a), changed_at="t"), b, NOW)
    assert definition.version == 3 and not bumped


def test_a_condition_keeps_its_transition_time_until_its_status_flips() -> None:
    first = set_condition([], "Ready", True, "A", "m", "t1")
    same = set_condition(copy.deepcopy(first), "Ready", True, "B", "other", "t2")
    flipped = set_condition(copy.deepcopy(same), "Ready", False, "C", "m", "t3")
    assert same[0].last_transition_time == "t1" and same[0].reason == "B"
    assert flipped[0].last_transition_time == "t3"


MANAGED = {"app.kubernetes.io/managed-by": "kpi-operator"}


def live_rule(labels: Any = MANAGED, *owners: tuple[str, str, str], api_version: str = "kpi.dev/v1alpha1") -> dict[str, Any]:
    """A live PrometheusRule shop/api with ``labels`` and ownerReferences ``(kind, name, uid)``."""
    meta: dict[str, Any] = {"name": "api", "namespace": "shop", "uid": "r-1", "resourceVersion": "7"}
    if labels is not None:
        meta["labels"] = dict(labels)
    if owners:
        meta["ownerReferences"] = [{"apiVersion": api_version, "kind": k, "name": n, "uid": u, "controller": True} for k, n, u in owners]
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": meta, "spec": {"groups": []}}


@pytest.mark.parametrize(
    "rule, verdict, says",
    [
        pytest.param(None, "free", "", id="no rule of that name: free"),
        pytest.param(live_rule(MANAGED, ("SLO", "api", "u-1")), "own", "", id="the label and an owner reference to this uid: own"),
        pytest.param(live_rule(None), "taken", "not made by kpi-operator (no label app.kubernetes.io/managed-by=kpi-operator)", id="a hand-written rule: taken"),
        pytest.param(live_rule({"team": "x"}, ("SLO", "api", "u-1")), "taken", "no label app.kubernetes.io/managed-by", id="this uid without the label: taken"),
        pytest.param(live_rule({"app.kubernetes.io/managed-by": "helm"}, ("SLO", "api", "u-1")), "taken", "not made by kpi-operator", id="another manager's label: taken"),
        pytest.param(live_rule(MANAGED), "taken", "no KPI or SLO owns it", id="the label without an owner (generate output applied by hand): taken"),
        pytest.param(live_rule(MANAGED, ("KPI", "api", "u-2")), "taken", "already belongs to KPI/api", id="a KPI of the same name: taken"),
        pytest.param(live_rule(MANAGED, ("SLO", "other", "u-3")), "taken", "already belongs to SLO/other", id="another SLO's: taken"),
        pytest.param(live_rule(MANAGED, ("SLO", "api", "u-0")), "adopt", "was made for an earlier SLO/api (uid u-0)", id="an earlier SLO of this name's: adopt (once confirmed)"),
        pytest.param(live_rule(MANAGED, ("SLO", "api", "u-0"), api_version="example.com/v1"), "taken", "no KPI or SLO owns it", id="an owner of another group: taken"),
    ],
)
def test_the_operator_writes_only_a_rule_it_owns(rule: Any, verdict: str, says: str) -> None:
    from kpi_operator.reconcile import rule_ownership

    ownership = rule_ownership(rule, body())
    assert ownership.verdict == verdict
    assert says in ownership.message
    assert ownership.writable == (verdict in ("free", "own"))
    if verdict in ("taken", "adopt"):
        assert ownership.message.startswith("PrometheusRule shop/api ")


def test_an_adoption_needs_the_live_object_of_that_name_to_be_this_one() -> None:
    """The earlier uid is gone only when this object is the live one; a stale body must not take the rule over."""
    from kpi_operator.reconcile import adoption_checked, rule_ownership

    earlier = rule_ownership(live_rule(MANAGED, ("SLO", "api", "u-0")), body())
    assert earlier.verdict == "adopt" and earlier.earlier_uids == ("u-0",) and not earlier.writable  # not until confirmed
    confirmed = adoption_checked(earlier, body(), "u-1")
    assert confirmed.verdict == "adopt" and confirmed.writable
    for live_uid in ("u-0", None, "u-9"):  # the earlier object still lives, or this one is gone / replaced
        taken = adoption_checked(earlier, body(), live_uid)
        assert taken.verdict == "taken" and "still exists" in taken.message
    own = rule_ownership(live_rule(MANAGED, ("SLO", "api", "u-1")), body())
    assert adoption_checked(own, body(), None) is own


def conditions_of(plan: ReconcilePlan) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in plan.status.conditions}


def test_a_rule_name_taken_stalls_the_object_without_a_rule_and_says_who_has_it() -> None:
    from kpi_operator.reconcile import rule_ownership

    plan = plan_reconcile(body(), "native", NOW)
    taken = resolve_rule_conflict(plan, body(), rule_ownership(live_rule(None), body()), NOW)
    assert taken.rule is None
    assert conditions_of(taken)["Stalled"] == ("True", "RuleNameTaken")
    assert conditions_of(taken)["Ready"] == ("False", "RuleNameTaken")
    assert taken.events[-1][:2] == ("Warning", "RuleNameTaken")
    assert "PrometheusRule shop/api exists and was not made by kpi-operator" in taken.events[-1][2]
    assert "rename the SLO or delete that rule" in taken.events[-1][2]
    # Nothing was applied: no generation nor definition recorded.
    assert "lastAppliedGeneration" not in taken.status.to_patch() and "definition" not in taken.status.to_patch()
    kpi_taken = resolve_rule_conflict(plan, body(), rule_ownership(live_rule(MANAGED, ("KPI", "api", "u-2")), body()), NOW)
    assert "KPI/api" in kpi_taken.events[-1][2]
    own = rule_ownership(live_rule(MANAGED, ("SLO", "api", "u-1")), body())
    assert resolve_rule_conflict(plan, body(), own, NOW) is plan
    assert resolve_rule_conflict(plan, body(), rule_ownership(None, body()), NOW) is plan


def test_a_retry_that_finds_the_name_still_taken_posts_no_second_event() -> None:
    from kpi_operator.reconcile import rule_ownership

    ownership = rule_ownership(live_rule(None), body())
    first = resolve_rule_conflict(plan_reconcile(body(), "native", NOW), body(), ownership, NOW)
    again = body()
    again["status"] = first.status.to_patch()
    second = resolve_rule_conflict(plan_reconcile(again, "native", NOW), again, ownership, NOW)
    assert second.rule is None and conditions_of(second)["Stalled"] == ("True", "RuleNameTaken")
    assert [e for e in second.events if e[1] == "RuleNameTaken"] == []


def test_an_adopted_rule_is_written_with_an_event() -> None:
    from kpi_operator.reconcile import adoption_checked, rule_ownership

    plan = plan_reconcile(body(), "native", NOW)
    ownership = adoption_checked(rule_ownership(live_rule(MANAGED, ("SLO", "api", "u-0")), body()), body(), "u-1")
    adopted = resolve_rule_conflict(plan, body(), ownership, NOW)
    assert adopted.rule == plan.rule and adopted.status == plan.status
    assert adopted.events[-1][:2] == ("Normal", "RuleAdopted") and "u-0" in adopted.events[-1][2]


@pytest.mark.parametrize(
    "permanent, condition, reason",
    [
        pytest.param(True, "Stalled", "RuleRejected", id="A rule the API server refuses stalls the object with the server's reason"),
        pytest.param(False, "Reconciling", "RuleWritePending", id="A write that failed for a passing reason keeps the object reconciling"),
    ],
)
def test_a_failed_rule_write_says_why_in_status_and_an_event(permanent: bool, condition: str, reason: str) -> None:
    changed = body(objective=99.5)
    changed["status"] = plan_reconcile(body(), "native", NOW).status.to_patch()
    plan = plan_reconcile(changed, "native", NOW)
    assert plan.events[0][1] == "DefinitionChanged"
    failed = rule_write_failed(plan, changed, "422 Unprocessable Entity: spec.groups too large", permanent, NOW)
    status = failed.status.to_patch()
    assert failed.rule is None
    assert conditions_of(failed)[condition] == ("True", reason)
    assert conditions_of(failed)["Ready"] == ("False", reason)
    ready = failed.status.condition("Ready")
    assert ready is not None and "spec.groups too large" in ready.message
    # Nothing was applied: no generation or definition is recorded, and the change is announced when it lands.
    assert "lastAppliedGeneration" not in status and "definition" not in status
    assert [e[1] for e in failed.events] == [reason]


def test_an_invalid_generation_keeps_serving_the_last_good_one_of_the_same_object() -> None:
    good = plan_reconcile(body(), "native", NOW)
    serving = next_serving(good, None)
    assert serving.obj is good.obj and serving.rule is good.rule and not serving.invalid
    broken = body()
    broken["spec"]["objective"] = "high"
    bad = plan_reconcile(broken, "native", NOW)
    kept = next_serving(bad, serving)
    assert kept == Serving(obj=good.obj, rule=good.rule, invalid=True)
    assert next_serving(bad, None) == Serving(obj=None, rule=None, invalid=True)


def test_a_hand_edited_status_field_is_dropped_alone_and_the_definition_version_survives() -> None:
    first = plan_reconcile(body(), "native", NOW)
    edited = body(objective=99.5)
    edited["status"] = {**first.status.to_patch(), "state": "Fine", "conditions": "not a list"}
    edited["status"]["definition"]["version"] = 7
    plan = plan_reconcile(edited, "native", NOW)
    assert plan.status.definition is not None and plan.status.definition.version == 8
    assert conditions_of(plan)["Reconciling"] == ("True", "AwaitingEvaluation")
