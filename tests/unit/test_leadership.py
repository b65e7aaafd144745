"""Leader election's decisions (``kpi_operator.election``): the Lease as read, my identity, when I saw it change,
when I last renewed it, now -> acquire / renew / stand by / retry / lost. Times are monotonic seconds."""

from __future__ import annotations

from typing import Any, Optional, Union

import pytest

from kpi_operator.election import UNREADABLE, Action, LeaseRecord, Observation, Timing, claimed_spec, decide, lease_body, micro_time, observe, released_spec
from kpi_operator.election.lease import Unreadable

ME = "operator-7d9f_a1b2c3d4"
OTHER = "operator-5c8e_e5f6a7b8"
DEADLINE = 10.0


def held_by(holder: str, duration: int = 15, renew_time: str = "2026-03-02T09:00:00.000000Z") -> LeaseRecord:
    return LeaseRecord(holder=holder, duration=duration, acquire_time="2026-03-02T08:00:00.000000Z", renew_time=renew_time, transitions=3, resource_version="41")


# lease as read, observed_at (first seen), renewed_at (None: I do not lead), now -> action
DECISIONS: dict[str, tuple[Union[LeaseRecord, None, Unreadable], float, Optional[float], float, Action]] = {
    "No Lease yet: a candidate creates it.": (None, 100.0, None, 100.0, Action.ACQUIRE),
    "A Lease released on a graceful stop (no holder) is taken at once.": (held_by("", duration=1), 100.0, None, 100.0, Action.ACQUIRE),
    "Another holder's Lease, seen changing 14.9s ago with a 15s duration: stand by.": (held_by(OTHER), 100.0, None, 114.9, Action.STANDBY),
    "Another holder's Lease unchanged for exactly its duration has expired: take it.": (held_by(OTHER), 100.0, None, 115.0, Action.ACQUIRE),
    "Another holder's Lease unchanged for longer than its duration: take it.": (held_by(OTHER), 100.0, None, 160.0, Action.ACQUIRE),
    "The holder's own duration counts, not mine: a 60s Lease seen 30s ago is live.": (held_by(OTHER, duration=60), 100.0, None, 130.0, Action.STANDBY),
    "A renewTime far in the past by my wall clock does not expire a Lease I saw change just now (clock skew).": (
        held_by(OTHER, renew_time="2001-01-01T00:00:00.000000Z"), 100.0, None, 100.5, Action.STANDBY),
    "My own Lease, renewed 2s ago: renew it.": (held_by(ME), 100.0, 98.0, 100.0, Action.RENEW),
    "My own Lease, renewed 9.9s ago with a 10s renew deadline: still renew it.": (held_by(ME), 100.0, 90.1, 100.0, Action.RENEW),
    "A leader that has not renewed for its whole renew deadline has lost, whatever the Lease says.": (held_by(ME), 100.0, 90.0, 100.0, Action.LOST),
    "A leader that has not renewed for its renew deadline has lost even when the Lease cannot be read.": (UNREADABLE, 100.0, 85.0, 100.0, Action.LOST),
    "A leader that cannot read the Lease before its deadline tries again.": (UNREADABLE, 100.0, 95.0, 100.0, Action.RETRY),
    "A standby that cannot read the Lease keeps standing by (never acquires blind).": (UNREADABLE, 0.0, None, 1000.0, Action.STANDBY),
    "A leader that finds another holder in the Lease has lost (taken over while it stalled).": (held_by(OTHER), 100.0, 99.0, 100.0, Action.LOST),
    "A leader that finds the Lease released by someone else has lost.": (held_by("", duration=1), 100.0, 99.0, 100.0, Action.LOST),
    "A leader whose Lease was deleted creates it again (a 409 tells it someone was faster).": (None, 100.0, 99.0, 100.0, Action.ACQUIRE),
    "A standby named as holder (its write landed, the answer was lost) renews and leads.": (held_by(ME), 100.0, None, 100.0, Action.RENEW),
}


@pytest.mark.parametrize("lease, observed_at, renewed_at, now, expected", DECISIONS.values(), ids=DECISIONS.keys())
def test_decide(lease: Union[LeaseRecord, None, Unreadable], observed_at: float, renewed_at: Optional[float], now: float, expected: Action) -> None:
    assert decide(lease, ME, observed_at=observed_at, renewed_at=renewed_at, now=now, renew_deadline=DEADLINE) is expected


def test_the_expiry_clock_restarts_only_when_the_record_changes() -> None:
    first = observe(None, held_by(OTHER), now=100.0)
    assert first == Observation(held_by(OTHER), 100.0)
    assert observe(first, held_by(OTHER), now=110.0) is first, "an unchanged record keeps the time it was first seen"
    renewed = held_by(OTHER, renew_time="2026-03-02T09:00:02.000000Z")
    assert observe(first, renewed, now=110.0) == Observation(renewed, 110.0)
    assert observe(first, None, now=120.0) == Observation(None, 120.0)


def test_a_standby_takes_over_only_after_a_whole_duration_without_renewals() -> None:
    """The holder renews every 2s until t=104, then stops; a standby reading every 2s takes over at t=120:
    the last change it saw (t=104) plus the 15s duration, rounded up to its next read."""
    observation = None
    actions = {}
    for now in [100.0 + 2 * i for i in range(12)]:
        renewals = min(now, 104.0)
        record = held_by(OTHER, renew_time=f"renewed at {renewals}")
        observation = observe(observation, record, now)
        actions[now] = decide(record, ME, observed_at=observation.changed_at, renewed_at=None, now=now, renew_deadline=DEADLINE)
    assert [t for t, a in actions.items() if a is Action.ACQUIRE] == [120.0, 122.0]
    assert all(a is Action.STANDBY for t, a in actions.items() if t < 120.0)


TIMINGS: dict[str, tuple[Timing, list[str]]] = {
    "client-go's defaults (15s, 10s, 2s) work.": (Timing(), []),
    "Short test settings (3s, 2s, 0.5s) work.": (Timing(3, 2.0, 0.5), []),
    "A renew deadline as long as the lease would let a standby act while the leader still does.": (Timing(10, 10.0, 2.0), ["renew deadline"]),
    "A retry period as long as the renew deadline leaves no second try.": (Timing(15, 2.0, 2.0), ["retry period"]),
    "A zero lease duration is refused (whole seconds, at least one).": (Timing(0, 0.5, 0.1), ["lease duration", "renew deadline"]),
}


@pytest.mark.parametrize("timing, complaints", TIMINGS.values(), ids=TIMINGS.keys())
def test_timing_problems(timing: Timing, complaints: list[str]) -> None:
    problems = timing.problems()
    assert len(problems) == len(complaints), problems
    for problem, complaint in zip(problems, complaints):
        assert problem.startswith(f"the {complaint}"), problem


WALL = 1772442000.25  # 2026-03-02T09:00:00.25Z

SPECS: dict[str, tuple[Optional[LeaseRecord], dict[str, Any]]] = {
    "A new Lease starts at zero transitions.": (
        None,
        {"holderIdentity": ME, "leaseDurationSeconds": 15, "acquireTime": "2026-03-02T09:00:00.250000Z", "renewTime": "2026-03-02T09:00:00.250000Z", "leaseTransitions": 0},
    ),
    "Taking another holder's Lease counts a transition and starts a new acquireTime.": (
        held_by(OTHER),
        {"holderIdentity": ME, "leaseDurationSeconds": 15, "acquireTime": "2026-03-02T09:00:00.250000Z", "renewTime": "2026-03-02T09:00:00.250000Z", "leaseTransitions": 4},
    ),
    "Renewing keeps acquireTime and the transitions; only renewTime moves.": (
        held_by(ME),
        {"holderIdentity": ME, "leaseDurationSeconds": 15, "acquireTime": "2026-03-02T08:00:00.000000Z", "renewTime": "2026-03-02T09:00:00.250000Z", "leaseTransitions": 3},
    ),
}


@pytest.mark.parametrize("previous, expected", SPECS.values(), ids=SPECS.keys())
def test_claimed_spec(previous: Optional[LeaseRecord], expected: dict[str, Any]) -> None:
    assert claimed_spec(previous, ME, 15, WALL) == expected


def test_a_released_lease_has_no_holder_and_a_one_second_duration() -> None:
    assert released_spec(held_by(ME), WALL) == {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": "2026-03-02T09:00:00.250000Z",
        "renewTime": "2026-03-02T09:00:00.250000Z",
        "leaseTransitions": 3,
    }


def test_writes_carry_the_resource_version_that_was_read() -> None:
    read = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "kpi-operator", "namespace": "ops", "resourceVersion": "41"}, "spec": {}}
    spec = claimed_spec(LeaseRecord.from_lease(read), ME, 15, WALL)
    assert lease_body("ops", "kpi-operator", spec, read)["metadata"]["resourceVersion"] == "41"
    assert lease_body("ops", "kpi-operator", spec) == {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "kpi-operator", "namespace": "ops"}, "spec": spec}


def test_a_lease_as_the_api_server_returns_it() -> None:
    lease = {
        "metadata": {"name": "kpi-operator", "namespace": "ops", "resourceVersion": "41"},
        "spec": {"holderIdentity": OTHER, "leaseDurationSeconds": 15, "acquireTime": "a", "renewTime": "r", "leaseTransitions": 2},
    }
    assert LeaseRecord.from_lease(lease) == LeaseRecord(OTHER, 15, "a", "r", 2, "41")
    assert LeaseRecord.from_lease({"metadata": {}, "spec": {}}) == LeaseRecord(), "a Lease without a holder (released, or created bare)"
    assert micro_time(0.0) == "1970-01-01T00:00:00.000000Z"
