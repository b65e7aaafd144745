"""Who acts: leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's rules, as pure functions.

The Lease holds ``holderIdentity``, ``leaseDurationSeconds``, ``acquireTime``, ``renewTime`` and
``leaseTransitions``. A candidate reads it every retry period and ``decide`` says what to do with what it read.

Expiry is judged by the reader's own monotonic clock: a lease is expired when its record has not changed for
``leaseDurationSeconds`` since this reader *saw* it change (``observe``), never by comparing ``renewTime`` with
the local wall clock. So a replica whose clock runs ahead cannot steal a live lease, and a clock step changes
nothing. The holder, for its part, stops acting when it has not renewed within its renew deadline, counted
from the moment it *sent* its last successful write; since the others start counting only once they see that
write, and the renew deadline is shorter than the lease duration, the holder has stopped before anyone else
can take over.

Writes carry the ``resourceVersion`` that was read, so of two candidates racing for the same lease one gets
409 Conflict and stays (or becomes) a standby.

No I/O and no clock here: times are passed in (``now``: monotonic seconds; ``wall``: Unix seconds for the
timestamps written into the Lease).
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass
from typing import Any, Optional, Union


class Action(str, enum.Enum):
    """What a candidate does after reading the Lease."""

    ACQUIRE = "acquire"  # absent, released or expired: take it (create, or replace with the read resourceVersion)
    RENEW = "renew"  # mine: write a new renewTime
    STANDBY = "standby"  # another holder's, still live (or unreadable while I do not lead): wait
    RETRY = "retry"  # I lead, the Lease could not be read, my renew deadline has not passed: try again
    LOST = "lost"  # I led and can no longer be sure I do: stop acting now


class Unreadable(enum.Enum):
    """The Lease could not be read (API server unreachable, forbidden, timed out)."""

    UNREADABLE = "unreadable"


UNREADABLE = Unreadable.UNREADABLE


@dataclass(frozen=True)
class LeaseRecord:
    """The leader-election record of a Lease as read; ``holder`` is ``""`` when it was released."""

    holder: str = ""
    duration: int = 0  # leaseDurationSeconds
    acquire_time: Optional[str] = None
    renew_time: Optional[str] = None
    transitions: int = 0
    resource_version: Optional[str] = None

    @classmethod
    def from_lease(cls, lease: dict[str, Any]) -> "LeaseRecord":
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            duration=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=(lease.get("metadata") or {}).get("resourceVersion"),
        )


@dataclass(frozen=True)
class Observation:
    """The record last read and the monotonic time at which this reader first saw it."""

    record: Optional[LeaseRecord]
    changed_at: float


def observe(previous: Optional[Observation], record: Optional[LeaseRecord], now: float) -> Observation:
    """Remember ``record``; the clock restarts only when it differs from the one seen before (any write changes
    its ``resourceVersion``, a renewal its ``renewTime`` as well)."""
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


@dataclass(frozen=True)
class Timing:
    """client-go's three settings. Defaults are client-go's and controller-runtime's: 15 s, 10 s, 2 s."""

    lease_duration: int = 15  # a standby takes over after this long without seeing the Lease change
    renew_deadline: float = 10.0  # the leader stops acting when it has not renewed for this long
    retry_period: float = 2.0  # between two reads (and renewals) of the Lease

    def problems(self) -> list[str]:
        """Why these settings cannot keep one leader (empty when they can)."""
        found = []
        if self.lease_duration < 1:
            found.append(f"the lease duration ({self.lease_duration}s) must be at least 1s (leaseDurationSeconds is whole seconds)")
        if not 0 < self.renew_deadline < self.lease_duration:
            found.append(
                f"the renew deadline ({self.renew_deadline}s) must be above 0 and below the lease duration ({self.lease_duration}s): "
                "a leader must stop acting before a standby may take over"
            )
        if not 0 < self.retry_period < self.renew_deadline:
            found.append(f"the retry period ({self.retry_period}s) must be above 0 and below the renew deadline ({self.renew_deadline}s)")
        return found


def decide(
    lease: Union[LeaseRecord, None, Unreadable],
    identity: str,
    *,
    observed_at: float,
    renewed_at: Optional[float],
    now: float,
    renew_deadline: float,
) -> Action:
    """What ``identity`` does with the Lease as read (``None``: absent; ``UNREADABLE``: the read failed).

    ``observed_at``: when this candidate first saw the current record (``observe``). ``renewed_at``: when it sent
    its last successful acquire or renewal, or None while it does not lead. All three times are monotonic.
    """
    leading = renewed_at is not None
    if renewed_at is not None and now - renewed_at >= renew_deadline:
        return Action.LOST
    if lease is UNREADABLE:
        return Action.RETRY if leading else Action.STANDBY
    if lease is None:
        return Action.ACQUIRE
    assert isinstance(lease, LeaseRecord)
    if lease.holder == identity:
        return Action.RENEW
    if leading:
        return Action.LOST  # someone else holds it now (taken over, or released by hand)
    if not lease.holder or now - observed_at >= lease.duration:
        return Action.ACQUIRE
    return Action.STANDBY


def micro_time(wall: float) -> str:
    """A Unix time as a Kubernetes ``MicroTime``: ``2026-03-02T09:00:00.123456Z``."""
    moment = datetime.datetime.fromtimestamp(wall, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claimed_spec(previous: Optional[LeaseRecord], identity: str, duration: int, wall: float) -> dict[str, Any]:
    """The Lease's spec when ``identity`` acquires or renews it: a renewal keeps ``acquireTime`` and the
    transitions; a change of holder starts a new ``acquireTime`` and counts one more transition."""
    now = micro_time(wall)
    if previous is not None and previous.holder == identity:
        acquired, transitions = previous.acquire_time or now, previous.transitions
    else:
        acquired, transitions = now, (previous.transitions + 1 if previous is not None else 0)
    return {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration,
        "acquireTime": acquired,
        "renewTime": now,
        "leaseTransitions": transitions,
    }


def released_spec(previous: LeaseRecord, wall: float) -> dict[str, Any]:
    """The Lease's spec when its holder lets go on a graceful stop (client-go's ``ReleaseOnCancel``): no holder
    and a one-second duration, so a standby takes it at its next read instead of waiting a whole lease duration."""
    now = micro_time(wall)
    return {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": now,
        "renewTime": now,
        "leaseTransitions": previous.transitions,
    }


def lease_body(namespace: str, name: str, spec: dict[str, Any], read: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The whole Lease to write: a new one, or the one ``read`` (its metadata, so its ``resourceVersion``) with
    ``spec`` in place of its spec."""
    if read is not None:
        return {**read, "spec": spec}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
