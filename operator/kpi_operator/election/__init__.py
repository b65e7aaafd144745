"""Pure leader election: the Lease as read in, what this replica does out (acquire, renew, stand by, stop). No I/O."""

from .lease import (
    UNREADABLE,
    Action,
    LeaseRecord,
    Observation,
    Timing,
    claimed_spec,
    decide,
    lease_body,
    micro_time,
    observe,
    released_spec,
)

__all__ = [
    "UNREADABLE",
    "Action",
    "LeaseRecord",
    "Observation",
    "Timing",
    "claimed_spec",
    "decide",
    "lease_body",
    "micro_time",
    "observe",
    "released_spec",
]
