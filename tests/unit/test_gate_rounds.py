"""A gate round over the Deployments a selector matches: what to patch and the ``status.gate`` after it, as the
gate loop runs it, without a cluster."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from kpi_operator.api.models import Gate, LabelSelector
from kpi_operator.api.status import GateStatus
from kpi_operator.gate import Decision, Outcome, Verdict, read_record, template_hash
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


def test_a_refused_patch_records_no_act_and_the_next_failure_retries() -> None:
    status, _ = run([FAIL, FAIL, FAIL], gate(), failed=frozenset({"checkout-canary"}))
    target = status.targets["checkout-canary"]
    assert (target["actedTemplate"], target["lastAction"], target["state"]) == (None, None, "Failing")
    status, decisions = run([FAIL], gate(), previous=status)
    assert decisions == [Decision.ACT]
    assert status.targets["checkout-canary"]["actedRevision"] == "2"


def test_an_acted_template_is_never_acted_on_again() -> None:
    status, decisions = run([FAIL] * 6, gate())
    assert decisions == [Decision.NONE, Decision.NONE, Decision.ACT, Decision.NONE, Decision.NONE, Decision.NONE]
    assert status.state == "Acted"


def apply(deployment: dict[str, Any], patch: list[dict[str, Any]], replicasets: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment after the act's patch and the controller's renumbering (the restored ReplicaSet becomes
    the newest revision); ``test`` ops are checked."""
    result = copy.deepcopy(deployment)
    for op in patch:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = result
        for part in parts[:-1]:
            parent = parent[part]
        if op["op"] == "test":
            assert parent[parts[-1]] == op["value"]
        else:
            parent[parts[-1]] = copy.deepcopy(op["value"])
    restored = next(rs for rs in replicasets if template_hash(rs["spec"]["template"]) == template_hash(result["spec"]["template"]))
    newest = max(int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for rs in replicasets) + 1
    restored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(newest)
    result["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(newest)
    return result


def test_the_record_on_the_deployment_stops_a_second_act_after_the_status_was_lost() -> None:
    deployment, replicasets = canary(3)
    round_ = plan_round(None, FAIL, gate(failure_limit=1), [deployment], replicasets, NOW, me="SLO/checkout", acted_at=1000.0)
    (target,) = round_.steps
    assert target.needs_patch and target.plan is not None
    after = apply(deployment, target.plan.patch, replicasets)
    # The status is lost: the next rounds see only the Deployment. The restored template is not judged on the
    # old samples, and the bad one is never restored again.
    status = None
    for index in range(5):
        round_ = plan_round(status, FAIL, gate(failure_limit=1), [after], replicasets, NOW + timedelta(seconds=30 * (index + 1)), me="SLO/checkout")
        assert [t.decision for t in round_.steps] == [Decision.NONE]
        status = finish_round(round_)
    assert status is not None and status.state == "Acted"
    assert status.verdict is not None and status.verdict.verdict == "inconclusive"
    assert "restored" in (status.verdict.reason or "")
    assert status.last_action is not None and status.last_action["action"] == "rollback", "rebuilt from the record"
    assert status.last_action["fromRevision"] == "3" and status.last_action["toRevision"] == "2"


def test_the_restored_template_is_judged_on_data_after_the_restore() -> None:
    deployment, replicasets = canary(3)
    (target,) = plan_round(None, FAIL, gate(failure_limit=1), [deployment], replicasets, NOW, me="SLO/checkout", acted_at=1000.0).steps
    assert target.plan is not None
    after = apply(deployment, target.plan.patch, replicasets)
    seen: list[float] = []

    def judge_since(since: float) -> Outcome:
        seen.append(since)
        return FAIL

    round_ = plan_round(None, FAIL, gate(failure_limit=1), [after], replicasets, NOW, me="SLO/checkout", judge_since=judge_since)
    assert seen == [1000.0]
    (step,) = round_.steps
    assert step.decision is Decision.ACT and step.plan is not None
    assert step.plan.to_revision == "1", "the template acted against (revision 3's) is never restored"


def test_two_gates_on_one_deployment_never_oscillate() -> None:
    """An SLO and a KPI both red on one canary: the SLO rolls 3 back to 2; the KPI sees the template the SLO
    restored, never reports the SLO's act, and never brings back the template the SLO acted against."""
    deployment, replicasets = canary(3)
    slo_round = plan_round(None, FAIL, gate(failure_limit=1), [deployment], replicasets, NOW, me="SLO/checkout", acted_at=1000.0)
    (slo_step,) = slo_round.steps
    assert slo_step.plan is not None
    after = apply(deployment, slo_step.plan.patch, replicasets)
    kpi_status = None
    for index in range(4):
        kpi_round = plan_round(kpi_status, FAIL, gate(failure_limit=1), [after], replicasets, NOW + timedelta(seconds=30 * index), me="KPI/conversion")
        assert [t.decision for t in kpi_round.steps] == [Decision.NONE]
        kpi_status = finish_round(kpi_round)
    assert kpi_status is not None and kpi_status.last_action is None and kpi_status.state == "Armed"
    # Had the KPI gate read the Deployment before the SLO's act, its patch carries the old resourceVersion, and
    # the API server refuses it; the record already refuses template 3 for every gate in any case.
    assert read_record(after).refused == (template_hash(deployment["spec"]["template"]),)
    held = plan_round(None, FAIL, gate(failure_limit=1), [{**after, "spec": deployment["spec"]}], replicasets, NOW, me="KPI/conversion")
    assert [t.decision for t in held.steps] == [Decision.NONE]
    assert finish_round(held).state == "Held"


@pytest.mark.parametrize(
    "generation, observed, acts",
    [
        pytest.param(5, 5, True, id="A rollout the controller observed is judged"),
        pytest.param(6, 5, False, id="A spec change the controller has not observed is not judged"),
        pytest.param(6, None, False, id="A Deployment without an observed generation is not judged"),
    ],
)
def test_only_a_deployment_its_controller_observed_is_acted_on(generation: int, observed: Optional[int], acts: bool) -> None:
    deployment, replicasets = canary(3)
    deployment = copy.deepcopy(deployment)
    deployment["metadata"]["generation"] = generation
    deployment["status"] = {} if observed is None else {"observedGeneration": observed}
    round_ = plan_round(None, FAIL, gate(failure_limit=1), [deployment], replicasets, NOW)
    assert [t.decision is Decision.ACT for t in round_.steps] == [acts]
    if not acts:
        verdict = finish_round(round_).verdict
        assert verdict is not None and verdict.verdict == "inconclusive" and "that its controller has" in (verdict.reason or "")


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
