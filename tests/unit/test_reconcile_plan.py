"""The reconcile plan: what one KPI/SLO body becomes (rule, status, Events), with no cluster."""

from __future__ import annotations

import copy
from typing import Any

from kpi_operator.api.definition import definition_hash, next_definition
from kpi_operator.reconcile import plan_reconcile
from kpi_operator.reconcile.conditions import set_condition

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
    assert plan.rule is not None and plan.rule["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert plan.rule["metadata"]["labels"] == {"release": "p", "app.kubernetes.io/managed-by": "kpi-operator"}
    assert plan.status["definition"]["version"] == 1 and plan.status["lastAppliedGeneration"] == 1
    types = {c["type"]: (c["status"], c["reason"]) for c in plan.status["conditions"]}
    assert types == {"Ready": ("False", "AwaitingEvaluation"), "Reconciling": ("True", "AwaitingEvaluation"), "Stalled": ("False", "AwaitingEvaluation")}
    assert plan.events == []


def test_changing_the_objective_bumps_the_version_with_an_event_and_a_label_does_not() -> None:
    first = plan_reconcile(body(), "native", NOW)
    changed = body(objective=99.5)
    changed["status"] = first.status
    second = plan_reconcile(changed, "native", "2026-11-28T01:00:00Z")
    assert second.status["definition"]["version"] == 2
    assert second.events[0][1] == "DefinitionChanged" and "version 1" in second.events[0][2] and "version 2" in second.events[0][2]
    relabelled = body()
    relabelled["metadata"]["labels"] = {"team": "x"}
    relabelled["status"] = first.status
    third = plan_reconcile(relabelled, "native", NOW)
    assert third.status["definition"] == first.status["definition"] and third.events == []


def test_an_invalid_slo_is_stalled_names_the_field_and_keeps_the_last_good_rules() -> None:
    good = plan_reconcile(body(), "native", NOW)
    broken = body()
    broken["spec"]["indicator"]["ratio"]["errors"] = "sum(rate(e[{{.window}}])"
    broken["metadata"]["generation"] = 2
    broken["status"] = good.status
    plan = plan_reconcile(broken, "native", NOW)
    assert plan.rule is None
    stalled = next(c for c in plan.status["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "InvalidSpec"
    assert "spec.indicator.ratio.errors" in stalled["message"] and "generation 1 stays in place" in stalled["message"]
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
    definition, bumped = next_definition({"version": 3, "hash": definition_hash(a), "changedAt": "t"}, b, NOW)
    assert definition["version"] == 3 and not bumped


def test_a_condition_keeps_its_transition_time_until_its_status_flips() -> None:
    first = set_condition([], "Ready", True, "A", "m", "t1")
    same = set_condition(copy.deepcopy(first), "Ready", True, "B", "other", "t2")
    flipped = set_condition(copy.deepcopy(same), "Ready", False, "C", "m", "t3")
    assert same[0]["lastTransitionTime"] == "t1" and same[0]["reason"] == "B"
    assert flipped[0]["lastTransitionTime"] == "t3"


def test_a_rule_owned_by_another_kpi_or_slo_is_taken() -> None:
    from kpi_operator.reconcile import rule_taken_by

    rule = {"metadata": {"ownerReferences": [{"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "name": "api", "uid": "u-2"}]}}
    assert rule_taken_by(rule, "u-2") is None
    assert rule_taken_by(rule, "u-1") == "KPI/api"
    assert rule_taken_by(None, "u-1") is None
