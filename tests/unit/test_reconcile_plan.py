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


def test_a_rule_owned_by_another_kpi_or_slo_is_taken() -> None:
    from kpi_operator.reconcile import rule_taken_by

    rule = {"metadata": {"ownerReferences": [{"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "name": "api", "uid": "u-2"}]}}
    assert rule_taken_by(rule, "u-2") is None
    assert rule_taken_by(rule, "u-1") == "KPI/api"
    assert rule_taken_by(None, "u-1") is None


def conditions_of(plan: ReconcilePlan) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in plan.status.conditions}


def test_a_rule_name_taken_by_another_object_stalls_this_one_without_a_rule() -> None:
    plan = plan_reconcile(body(), "native", NOW)
    other = {"metadata": {"ownerReferences": [{"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "name": "api", "uid": "u-2"}]}}
    taken = resolve_rule_conflict(plan, body(), other, NOW)
    assert taken.rule is None
    assert conditions_of(taken)["Stalled"] == ("True", "RuleNameTaken")
    assert taken.events[-1][:2] == ("Warning", "RuleNameTaken") and "KPI/api" in taken.events[-1][2]
    own = {"metadata": {"ownerReferences": [{"apiVersion": "kpi.dev/v1alpha1", "kind": "SLO", "name": "api", "uid": "u-1"}]}}
    assert resolve_rule_conflict(plan, body(), own, NOW) is plan
    assert resolve_rule_conflict(plan, body(), None, NOW) is plan


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
