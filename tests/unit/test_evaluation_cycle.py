"""The evaluation cycle's plan: which statuses a cycle writes and what it writes, without Prometheus or a cluster."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from kpi_operator.api import conditions as cond
from kpi_operator.api import parse_object
from kpi_operator.api.status import GateStatus, GateVerdict, KPIStatus, SLOStatus
from kpi_operator.evaluation import Tracked, kpi_history_after, plan_cycle, plan_outage, plan_status
from kpi_operator.evaluation.cycle import HEARTBEAT_INTERVALS

NOW = 1_800_000_000.0
INTERVAL = 30.0
KEY = ("SLO", "shop", "api")
EVALUATED = cond.ready([], "Evaluated", "m", "2027-01-15T08:00:00Z", 1)
AWAITING = cond.reconciling([], "AwaitingEvaluation", "m", "2027-01-15T08:00:00Z", 1)
INVALID = cond.stalled([], "InvalidSpec", "spec.objective: broken", "2027-01-15T08:00:00Z", 2)


def healthy(**fields: Any) -> SLOStatus:
    return SLOStatus(**{"sli": 99.95, "burn_rates": {"5m": 0.5, "1h": 0.5}, "state": "Healthy", "alerts": [], **fields})


def tracked(status: SLOStatus, written_at: float = NOW - INTERVAL, invalid: bool = False, gated: bool = False) -> Tracked:
    return Tracked(key=KEY, status=status, invalid=invalid, written_at=written_at, gated=gated)


GATE = GateStatus(state="Armed", consecutive_failures=0, last_action=None, verdict=GateVerdict(verdict="pass", reason="ok"), targets={})


@pytest.mark.parametrize(
    "item, evaluation, gate, writes",
    [
        pytest.param(tracked(healthy(conditions=EVALUATED)), healthy(), None, False,
                     id="An evaluated object whose numbers did not change is not written"),
        pytest.param(tracked(healthy(conditions=EVALUATED)), healthy(burn_rates={"5m": 0.52, "1h": 0.5}), None, False,
                     id="Jitter of a burn rate within 5 percent is not written"),
        pytest.param(tracked(healthy(conditions=EVALUATED)), SLOStatus(sli=99.0, burn_rates={"5m": 10.0, "1h": 10.0}, state="Warning", alerts=["ticket"]), None, True,
                     id="A new state is written"),
        pytest.param(tracked(healthy(conditions=EVALUATED), written_at=NOW - HEARTBEAT_INTERVALS * INTERVAL), healthy(), None, True,
                     id="An unchanged object is written as a heartbeat after ten intervals"),
        pytest.param(tracked(healthy(conditions=AWAITING)), healthy(), None, True,
                     id="The first evaluation after the rules were applied is written, to set Ready"),
        pytest.param(tracked(healthy(conditions=EVALUATED, gate=GATE), gated=True), healthy(), GATE, False,
                     id="An unchanged gate is not written"),
        pytest.param(tracked(healthy(conditions=EVALUATED, gate=GATE), gated=True), healthy(), GATE.model_copy(update={"consecutive_failures": 1, "state": "Failing"}), True,
                     id="A gate that moved is written"),
        pytest.param(tracked(healthy(conditions=INVALID), invalid=True), healthy(), None, False,
                     id="An object whose current generation is invalid keeps the reconcile's conditions"),
    ],
)
def test_which_statuses_a_cycle_writes(item: Tracked, evaluation: SLOStatus, gate: Optional[GateStatus], writes: bool) -> None:
    plan = plan_cycle([item], {KEY: evaluation}, {KEY: gate} if gate is not None else {}, NOW, INTERVAL)
    assert (KEY in plan.patches) is writes
    assert plan.states == {("SLO", evaluation.state): 1}


def test_a_written_status_carries_the_whole_evaluation_the_time_and_ready() -> None:
    evaluation = SLOStatus(sli=99.0, burn_rates={"5m": 10.0}, state="Warning", alerts=["ticket"], exhaustion_estimate=None)
    patch = plan_status(tracked(healthy(conditions=AWAITING)), evaluation, None, NOW, INTERVAL)
    assert patch is not None
    wire = patch.to_patch()
    assert wire["state"] == "Warning" and wire["burnRates"] == {"5m": 10.0} and wire["lastEvaluated"] == "2027-01-15T08:00:00Z"
    assert "exhaustionEstimate" in wire and wire["exhaustionEstimate"] is None  # merge patch: removes a stale estimate
    assert {c["type"]: (c["status"], c["reason"]) for c in wire["conditions"]}["Ready"] == ("True", "Evaluated")


def test_an_invalid_object_is_evaluated_without_touching_its_stalled_condition() -> None:
    patch = plan_status(tracked(SLOStatus(conditions=INVALID), invalid=True), healthy(), None, NOW, INTERVAL)
    assert patch is not None and "conditions" not in patch.to_patch()


@pytest.mark.parametrize(
    "item, marked",
    [
        pytest.param(tracked(healthy(conditions=EVALUATED)), True, id="An evaluated object goes Unknown and Stalled"),
        pytest.param(tracked(healthy(conditions=INVALID), invalid=True), False, id="An invalid object keeps the reconcile's Stalled"),
        pytest.param(
            tracked(SLOStatus(state="Unknown", conditions=cond.stalled([], "PrometheusUnavailable", "m", "t", 1))), False,
            id="An object already marked for this outage is not written again",
        ),
    ],
)
def test_an_outage(item: Tracked, marked: bool) -> None:
    planned = plan_outage([item], "Prometheus at http://p:9090 is unreachable", NOW)
    assert (KEY in planned) is marked
    if marked:
        patch, message = planned[KEY]
        wire = patch.to_patch()
        assert wire["state"] == "Unknown" and "gate" not in wire
        stalled = patch.condition("Stalled")
        assert stalled is not None and stalled.reason == "PrometheusUnavailable" and "unreachable" in stalled.message
        assert "retrying with backoff" in message


def test_an_outage_turns_the_gate_verdict_to_error_and_keeps_its_count() -> None:
    gate = GateStatus(state="Failing", consecutive_failures=2, last_action=None, verdict=GateVerdict(verdict="fail", reason="burning"), targets={"c": {"state": "Failing"}})
    ((patch, _),) = plan_outage([tracked(healthy(conditions=EVALUATED, gate=gate), gated=True)], "down", NOW).values()
    wire = patch.to_patch()["gate"]
    assert wire["verdict"]["verdict"] == "error" and "never acts on an error" in wire["verdict"]["reason"]
    assert wire["consecutiveFailures"] == 2 and wire["targets"] == {"c": {"state": "Failing"}}


def test_kpi_history_keeps_its_for_and_an_hour() -> None:
    kpi, problems = parse_object({"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "metadata": {"name": "k"},
                                  "spec": {"owner": "o", "query": "x", "target": {"op": ">=", "value": 1}, "for": "10m"}})
    assert kpi is not None, problems
    history = [(NOW - 4300.0, 1.0), (NOW - 4100.0, 2.0), (NOW - 60.0, None)]
    assert kpi_history_after(history, kpi, NOW, 3.0) == [(NOW - 4100.0, 2.0), (NOW - 60.0, None), (NOW, 3.0)]


def test_a_kpi_status_plan_is_a_kpi_status() -> None:
    item = Tracked(key=("KPI", "shop", "k"), status=KPIStatus(conditions=AWAITING))
    patch = plan_status(item, KPIStatus(value=0.03, target=0.03, state="Healthy", alerts=[]), None, NOW, INTERVAL)
    assert isinstance(patch, KPIStatus) and patch.to_patch()["value"] == 0.03
