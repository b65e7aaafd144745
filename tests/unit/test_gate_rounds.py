"""A gate round over the Deployments a selector matches: what to patch and the ``status.gate`` after it, as the
gate loop runs it, without a cluster."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from kpi_operator.api.models import Gate, LabelSelector
from kpi_operator.api.status import GateStatus
from kpi_operator.gate import ACTED_REVISION_ANNOTATION, Decision, Outcome, Verdict
from kpi_operator.gate.rounds import NO_TARGET_MESSAGE, act_report, finish_round, matching_deployments, plan_round
from ship.status_fixtures import canary

NOW = datetime(2027, 1, 15, 8, 0, 0, tzinfo=timezone.utc)
FAIL = Outcome(Verdict.FAIL, "burning 14x", 0.02, 0.0144, "q")
PASS = Outcome(Verdict.PASS, "fine", 0.0001, 0.0144, "q")
ERROR = Outcome(Verdict.ERROR, "Prometheus down", None, None, "q")


def gate(**fields: Any) -> Gate:
    return Gate(selector=LabelSelector(match_labels={"app": "checkout", "track": "canary"}), **fields)


def run(outcomes: list[Outcome], spec: Gate, revision: int = 2, previous: Optional[GateStatus] = None, failed: frozenset[str] = frozenset()) -> tuple[GateStatus, list[Decision]]:
    """``outcomes`` one round each on a canary at ``revision``; the last round's patches fail for ``failed``."""
    deployment, replicasets = canary(revision)
    status = previous
    decisions = []
    for index, outcome in enumerate(outcomes):
        round_ = plan_round(status, outcome, spec, [deployment], replicasets, NOW + timedelta(seconds=30 * index))
        decisions.extend(t.decision for t in round_.steps)
        status = finish_round(round_, failed if index == len(outcomes) - 1 else frozenset())
    assert status is not None
    return status, decisions


@pytest.mark.parametrize(
    "outcomes, spec, state, failures, last",
    [
        pytest.param([FAIL, FAIL], gate(), "Failing", 2, Decision.NONE, id="Two failures of three count and do not act"),
        pytest.param([FAIL, FAIL, FAIL], gate(), "Acted", 3, Decision.ACT, id="The third consecutive failure acts"),
        pytest.param([FAIL, FAIL, PASS, FAIL], gate(), "Failing", 1, Decision.NONE, id="A pass resets the count"),
        pytest.param([FAIL, FAIL, ERROR, FAIL], gate(), "Acted", 3, Decision.ACT, id="An error holds: it neither counts nor resets"),
        pytest.param([FAIL, FAIL, FAIL], gate(dry_run=True), "DryRun", 3, Decision.WOULD_ACT, id="A dry run records what it would do"),
        pytest.param([FAIL], gate(failure_limit=1, action="pause"), "Acted", 1, Decision.ACT, id="failureLimit 1 acts on the first failure"),
    ],
)
def test_a_round_steps_the_canary(outcomes: list[Outcome], spec: Gate, state: str, failures: int, last: Decision) -> None:
    status, decisions = run(outcomes, spec)
    assert (status.state, status.consecutive_failures, decisions[-1]) == (state, failures, last)
    assert status.targets["checkout-canary"]["state"] == state
    assert status.verdict is not None and status.verdict.verdict == outcomes[-1].verdict.value


def test_the_act_plans_a_rollback_patch_with_a_revision_precondition() -> None:
    deployment, replicasets = canary(3)
    round_ = plan_round(None, FAIL, gate(failure_limit=1), [deployment], replicasets, NOW)
    (target,) = round_.steps
    assert target.needs_patch and target.plan is not None
    assert target.plan.patch[0]["op"] == "test"
    report = act_report(round_, target, "SLO shop/checkout")
    assert report.reason == "GateActed" and "burning 14x" in report.message
    assert report.on_deployment is not None and report.on_deployment.startswith("SLO shop/checkout: ")
    status = finish_round(round_)
    assert status.last_action is not None and status.last_action["action"] == "rollback"
    assert status.targets["checkout-canary"]["actedRevision"] == "3"


def test_a_refused_patch_records_no_act_and_the_revision_is_judged_again() -> None:
    status, _ = run([FAIL, FAIL, FAIL], gate(), failed=frozenset({"checkout-canary"}))
    target = status.targets["checkout-canary"]
    assert target["actedRevision"] is None and target["lastAction"] is None
    # The revision was not acted on, so it is re-armed and a fresh streak of failureLimit failures acts.
    status, decisions = run([FAIL, FAIL, FAIL], gate(), previous=status)
    assert decisions == [Decision.NONE, Decision.NONE, Decision.ACT]
    assert status.targets["checkout-canary"]["actedRevision"] == "2"


def test_an_acted_revision_is_never_acted_on_again() -> None:
    status, decisions = run([FAIL] * 6, gate())
    assert decisions == [Decision.NONE, Decision.NONE, Decision.ACT, Decision.NONE, Decision.NONE, Decision.NONE]
    assert status.state == "Acted"


def test_the_deployment_annotation_stops_a_second_act_after_the_status_was_lost() -> None:
    deployment, replicasets = canary(2)
    deployment = copy.deepcopy(deployment)
    deployment["metadata"]["annotations"][ACTED_REVISION_ANNOTATION] = "2"
    round_ = plan_round(None, FAIL, gate(failure_limit=1), [deployment], replicasets, NOW)
    assert [t.decision for t in round_.steps] == [Decision.NONE]
    assert finish_round(round_).state == "Acted"


def test_no_matching_deployment_says_so_and_keeps_the_verdict() -> None:
    deployment, replicasets = canary(2)
    other = copy.deepcopy(deployment)
    other["metadata"]["labels"] = {"app": "checkout", "track": "stable"}
    status = finish_round(plan_round(None, FAIL, gate(), [other], replicasets, NOW))
    assert status.message == NO_TARGET_MESSAGE and status.state == "Armed" and status.targets == {}
    assert status.verdict is not None and status.verdict.verdict == "fail"


def test_deployments_are_judged_in_name_order_and_the_first_is_mirrored() -> None:
    deployment, _ = canary(2)
    second = copy.deepcopy(deployment)
    second["metadata"]["name"] = "a-canary"
    assert [d["metadata"]["name"] for d in matching_deployments([deployment, second], gate())] == ["a-canary", "checkout-canary"]
