"""The gate's state machine: when consecutive verdicts on a revision make it act, and never twice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Sequence, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_operator.api.models import KPI, Gate
from kpi_operator.gate import Decision, GateState, KPIReading, Outcome, Phase, Refusal, TargetFacts, Verdict, kpi_verdict, record_action, step
from kpi_operator.gate.state import not_acted

START = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
P, F, I, E = Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.ERROR
NONE, ACT, WOULD = Decision.NONE, Decision.ACT, Decision.WOULD_ACT


def gate(failure_limit: int = 3, dry_run: bool = False, no_data: str = "hold") -> Gate:
    return Gate.model_validate(
        {
            "selector": {"matchLabels": {"app": "checkout", "track": "canary"}},
            "action": "rollback",
            "failureLimit": failure_limit,
            "noData": no_data,
            "dryRun": dry_run,
        }
    )


def run(
    verdicts: Sequence[Union[Verdict, Outcome]],
    revisions: Optional[Sequence[str]] = None,
    spec: Optional[Gate] = None,
    state: Optional[GateState] = None,
) -> tuple[GateState, list[Decision]]:
    """Feed verdicts one evaluation (30s) apart; the revision is "3" unless given per verdict."""
    spec = spec or gate()
    state = state or GateState()
    revisions = revisions or ["3"] * len(verdicts)
    decisions = []
    for index, (verdict, revision) in enumerate(zip(verdicts, revisions)):
        state, decision = step(state, verdict, spec, revision, START + timedelta(seconds=30 * index))
        decisions.append(decision)
    return state, decisions


CASES = [
    pytest.param([F, F, F, F, F], None, gate(), [NONE, NONE, ACT, NONE, NONE], Phase.ACTED, 3,
                 id="Three failures with failureLimit 3 act exactly once"),
    pytest.param([F, F, P, F, F], None, gate(), [NONE] * 5, Phase.FAILING, 2,
                 id="A pass in between resets the count"),
    pytest.param([F, I, E, F, P], None, gate(), [NONE] * 5, Phase.ARMED, 0,
                 id="Inconclusive and error hold the count, and a pass still resets it"),
    pytest.param([F, I, E, F, F], None, gate(), [NONE, NONE, NONE, NONE, ACT], Phase.ACTED, 3,
                 id="Inconclusive and error in a streak of failures neither count nor reset"),
    pytest.param([I] * 10 + [E] * 10, None, gate(failure_limit=1), [NONE] * 20, Phase.ARMED, 0,
                 id="No data holds by default: endless inconclusive and error never act"),
    pytest.param([F, F, F, P, F, F, F], None, gate(), [NONE, NONE, ACT, NONE, NONE, NONE, NONE], Phase.ACTED, 3,
                 id="The same revision is never acted on twice, even after it recovers and fails again"),
    pytest.param([F, F, F, F, F, F], ["3", "3", "3", "4", "4", "4"], gate(), [NONE, NONE, ACT, NONE, NONE, ACT], Phase.ACTED, 3,
                 id="A new revision re-arms the gate"),
    pytest.param([F, F, F, F], ["3", "3", "4", "4"], gate(), [NONE] * 4, Phase.FAILING, 2,
                 id="A new revision starts counting from zero"),
    pytest.param([F, F, F, F], None, gate(dry_run=True), [NONE, NONE, WOULD, NONE], Phase.DRY_RUN, 4,
                 id="dryRun would act but does not"),
    pytest.param([F, F, F, P, F, F, F], None, gate(dry_run=True), [NONE, NONE, WOULD, NONE, NONE, NONE, WOULD], Phase.DRY_RUN, 3,
                 id="dryRun says it again for a new streak of failures"),
    pytest.param([F], None, gate(failure_limit=1), [ACT], Phase.ACTED, 1,
                 id="failureLimit 1 acts on the first failure"),
]


@pytest.mark.parametrize(("verdicts", "revisions", "spec", "decisions", "phase", "failures"), CASES)
def test_step(verdicts: list[Verdict], revisions: Optional[list[str]], spec: Gate, decisions: list[Decision], phase: Phase, failures: int) -> None:
    state, seen = run(verdicts, revisions, spec)
    assert (seen, state.state, state.consecutive_failures) == (decisions, phase, failures)


def test_an_outcome_is_as_good_as_a_verdict() -> None:
    fail = Outcome(Verdict.FAIL, "KPI checkout-conversion has been below ...", 0.021, 0.025, "kpi:value")
    assert run([fail, fail, fail])[1] == [NONE, NONE, ACT]


def test_the_acted_revision_is_remembered_and_a_new_one_armed() -> None:
    state, _ = run([F, F, F, F], ["3", "3", "3", "4"])
    assert (state.acted_revision, state.armed_revision, state.armed_at) == ("3", "4", "2026-01-01T12:01:30Z")


def test_turning_dry_run_off_while_failing_acts() -> None:
    state, decisions = run([F, F, F], spec=gate(dry_run=True))
    assert decisions[-1] is WOULD
    state, decision = step(state, F, gate(dry_run=False), "3", START + timedelta(minutes=5))
    assert (decision, state.state, state.acted_revision) == (ACT, Phase.ACTED, "3")


def test_the_template_a_rollback_restored_shows_acted_and_is_judged_again() -> None:
    """Rolling template 3 back restores template 2: it shows ``Acted`` while it passes, and real failures of it
    (the verdict judges it on data from after the restore only) make the gate act again, on template 2."""
    state, _ = run([F, F, F])
    restored = TargetFacts(template="2", revision="4", restored_here=True)
    state, decision = step(state, P, gate(), restored, START + timedelta(minutes=5))
    assert (decision, state.state, state.armed_template) == (NONE, Phase.ACTED, "2")
    decisions = []
    for minute in (6, 7, 8):
        state, decision = step(state, F, gate(), restored, START + timedelta(minutes=minute))
        decisions.append(decision)
    assert (decisions, state.acted_template) == ([NONE, NONE, ACT], "2")


@pytest.mark.parametrize(
    "refusal, phase",
    [
        pytest.param(Refusal.BY_THIS_GATE, Phase.ACTED, id="A template this gate acted against is Acted, never acted on again"),
        pytest.param(Refusal.BY_ANOTHER_GATE, Phase.HELD, id="A template another gate acted against is Held: no count, no act, no report"),
    ],
)
def test_a_refused_template_never_acts(refusal: Refusal, phase: Phase) -> None:
    facts = TargetFacts(template="3", revision="3", refusal=refusal)
    state, decisions = GateState(), []
    for index in range(6):
        state, decision = step(state, F, gate(failure_limit=1), facts, START + timedelta(seconds=30 * index))
        decisions.append(decision)
    assert (decisions, state.state, state.last_action) == ([NONE] * 6, phase, None)
    assert state.consecutive_failures == 0


def test_the_status_alone_still_stops_a_second_act_when_the_record_was_edited_away() -> None:
    state, _ = run([F, F, F])
    state, decision = step(state, F, gate(failure_limit=1), TargetFacts(template="3"), START + timedelta(minutes=5))
    assert (decision, state.state) == (NONE, Phase.ACTED)


def test_a_refused_patch_is_retried_on_the_next_failure() -> None:
    state, decisions = run([F, F, F])
    assert decisions[-1] is ACT
    state = not_acted(state, gate())
    assert (state.state, state.consecutive_failures, state.acted_template) == (Phase.FAILING, 2, None)
    state, decision = step(state, F, gate(), "3", START + timedelta(minutes=5))
    assert decision is ACT


def test_record_action_keeps_the_last_action() -> None:
    action = {"action": "pause", "noop": False, "dryRun": False}
    assert record_action(GateState(acted_template="3"), action).last_action == action


def test_no_gate_is_disabled_and_never_acts() -> None:
    state, decision = step(GateState(consecutive_failures=2, acted_template="1"), F, None, "3", START)
    assert (decision, state.state, state.consecutive_failures, state.acted_template) == (NONE, Phase.DISABLED, 0, "1")


def test_a_re_enabled_gate_starts_armed() -> None:
    state, decision = step(GateState(state=Phase.DISABLED, armed_template="3"), F, gate(), "3", START)
    assert (decision, state.state, state.consecutive_failures) == (NONE, Phase.FAILING, 1)


# --- status.gate ------------------------------------------------------------------------------------------------


def test_state_reads_as_status() -> None:
    state, _ = run([F, F, F, F], ["3", "3", "3", "4"])
    assert state.to_dict() == {
        "state": "Failing",
        "consecutiveFailures": 1,
        "armedTemplate": "4",
        "armedRevision": "4",
        "armedAt": "2026-01-01T12:01:30Z",
        "actedTemplate": "3",
        "actedRevision": "3",
        "lastAction": None,
        "evidenceAt": None,
        "message": None,
    }


def test_state_survives_a_trip_through_status() -> None:
    state, _ = run([F, F, F])
    state = record_action(state, {"action": "rollback", "resultRevision": "4", "noop": False, "dryRun": False, "time": "2026-01-01T12:01:00Z"})
    state = step(state, F, gate(), TargetFacts(template="9", refusal=Refusal.BY_ANOTHER_GATE), START)[0]
    assert GateState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(None, GateState(), id="No status yet is a fresh, armed gate"),
        pytest.param({}, GateState(), id="An empty status is a fresh, armed gate"),
        pytest.param({"state": "Sleeping", "consecutiveFailures": "two"}, GateState(), id="Garbage falls back to the defaults"),
        pytest.param({"state": "Failing", "consecutiveFailures": 2, "armedRevision": 7}, GateState(Phase.FAILING, 2, armed_revision="7"),
                     id="A numeric revision is read as a string"),
    ],
)
def test_state_from_status(status: Optional[dict[str, Any]], expected: GateState) -> None:
    assert GateState.from_dict(status) == expected


# --- properties -------------------------------------------------------------------------------------------------

verdicts = st.sampled_from([P, F, I, E])
evaluations = st.lists(st.tuples(verdicts, st.booleans()), max_size=60)


@settings(max_examples=300, deadline=None)
@given(evaluations=st.lists(st.tuples(verdicts, st.booleans(), st.booleans()), max_size=60), failure_limit=st.integers(1, 5), dry_run=st.booleans(), rollbacks=st.booleans())
def test_the_machine_never_acts_twice_on_a_template_nor_on_a_hold(
    evaluations: list[tuple[Verdict, bool, bool]], failure_limit: int, dry_run: bool, rollbacks: bool
) -> None:
    """For any sequence of verdicts, new rollouts and lost statuses (the status written and read back between
    evaluations, or lost altogether): every act is on a template no act was recorded against on the Deployment,
    follows ``failureLimit`` failures on that template with no pass in between, and no inconclusive or error
    (under noData: hold) ever acts. ``rollbacks`` makes each act a real rollback to a template of its own."""
    spec = gate(failure_limit=failure_limit, dry_run=dry_run)
    state = GateState()
    template, restored_here, number = "t1", False, 1
    refused: set[str] = set()  # the Deployment's record: survives everything the status does not
    history: list[Verdict] = []
    for index, (verdict, bump, lose_status) in enumerate(evaluations):
        if bump:
            number += 1
            template, restored_here, history = f"t{number}", False, []
        now = START + timedelta(seconds=30 * index)
        previous = GateState() if lose_status else GateState.from_dict(json.loads(json.dumps(state.to_dict())))
        if lose_status:
            history = []
        facts = TargetFacts(template, refusal=Refusal.BY_THIS_GATE if template in refused else Refusal.NONE, restored_here=restored_here)
        state, decision = step(previous, verdict, spec, facts, now)
        history.append(verdict)
        if verdict is not F:
            assert decision is NONE
        if decision is ACT:
            assert not dry_run
            assert template not in refused
            refused.add(template)
            streak = [v for v in history if v in (P, F)][-failure_limit:]
            assert streak == [F] * failure_limit
            if rollbacks:
                number += 1
                template, restored_here, history = f"r{number}", True, []
        if decision is WOULD:
            assert dry_run


def test_no_data_fail_makes_endless_no_data_act() -> None:
    """noData: fail is applied by the verdict, so `step` sees failures and counts them like any other."""
    spec = {
        "owner": "team-growth",
        "query": "sum(rate(orders_total[5m]))",
        "target": {"op": ">=", "value": 1},
        "gate": {"selector": {"matchLabels": {"app": "checkout"}}, "noData": "fail"},
    }
    kpi = KPI.model_validate({"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "metadata": {"name": "orders"}, "spec": spec})
    assert kpi.spec.gate is not None
    outcome = kpi_verdict(kpi, KPIReading(samples=[], query="sum(rate(orders_total[5m]))"))
    assert run([outcome] * 3, spec=kpi.spec.gate)[1] == [NONE, NONE, ACT]


# --- evidence: failureLimit counts evaluations, not cycles ----------------------------------------------------


@pytest.mark.parametrize(
    "evidence, decisions, failures",
    [
        pytest.param([100.0, 100.0, 100.0, 100.0], [NONE, NONE, NONE, NONE], 1,
                     id="One red sample of a stalled rule, read four times, counts once and never acts"),
        pytest.param([100.0, 130.0, 160.0], [NONE, NONE, ACT], 3, id="Three new evaluations count three and act"),
        pytest.param([100.0, 100.0, 130.0, 130.0, 160.0], [NONE, NONE, NONE, NONE, ACT], 3,
                     id="A cycle faster than the rule interval neither counts nor acts twice on one evaluation"),
        pytest.param([None, None, None], [NONE, NONE, ACT], 3, id="Without sample times every verdict counts, as before"),
    ],
)
def test_only_new_evidence_counts(evidence: list[Optional[float]], decisions: list[Decision], failures: int) -> None:
    state = GateState()
    seen = []
    for index, at in enumerate(evidence):
        state, decision = step(state, F, gate(), "3", START + timedelta(seconds=30 * index), at)
        seen.append(decision)
    assert seen == decisions and state.consecutive_failures == failures


def test_evidence_survives_a_trip_through_status() -> None:
    state, _ = step(GateState(), F, gate(), "3", START, 1234.5)
    again = GateState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.evidence_at == 1234.5
    assert step(again, F, gate(), "3", START, 1234.5)[0].consecutive_failures == 1
