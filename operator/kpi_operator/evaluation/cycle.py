"""One evaluation cycle, planned: which statuses to write and what to write in them. Pure.

The loop (``runtime.evaluation_loop``) reads Prometheus, runs the gates, and sends what this module plans. Two
rules keep the API server quiet at scale: a status is rewritten only when what a person reads changes (live
ratios jitter from scrape to scrape; see ``TOLERANCE``), and otherwise only as a heartbeat of ``lastEvaluated``
every ``HEARTBEAT_INTERVALS`` intervals, so a reader can tell a quiet SLO from a stuck operator.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from ..api import conditions as cond
from ..api.models import KPI
from ..api.redaction import redact
from ..api.status import AnyStatus, GateStatus, status_type
from ..api.timestamps import utc_timestamp
from ..rules.compiled import compile_kpi
from .collect import Key
from .rule_health import RuleProblem

HEARTBEAT_INTERVALS = 10
KPI_HISTORY_MARGIN = 3600.0  # seconds of KPI values kept beyond its ``for``, for the gate's verdict

EVALUATED_MESSAGE = "Rules applied and Prometheus answering; see status.state for the verdict."
EVALUATION_FIELDS = ("sli", "errorBudget", "burnRates", "exhaustionEstimate", "alerts", "state", "value", "target")

# How far a number may move before the status is rewritten: a rewrite per object per cycle is an API call and a
# watch event for every watcher.
TOLERANCE: dict[str, tuple[float, float]] = {  # field: (relative, absolute)
    "sli": (0.0, 0.001),  # percentage points
    "errorBudget": (0.0, 0.001),
    "burnRates": (0.05, 0.01),
    "value": (0.01, 1e-9),
}


@dataclass(frozen=True)
class Tracked:
    """What the cycle needs to know of one object: its last written status, whether its current generation is
    invalid (then its conditions are the reconcile's, not the loop's), and when its status was last written."""

    key: Key
    status: AnyStatus
    invalid: bool = False
    written_at: float = 0.0
    gated: bool = False


@dataclass
class CyclePlan:
    """The patches to send (by object) and the count of objects per (kind, state), for telemetry."""

    patches: dict[Key, AnyStatus] = field(default_factory=dict)
    states: Counter[tuple[str, str]] = field(default_factory=Counter)


def _close(a: Any, b: Any, relative: float, absolute: float) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], relative, absolute) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(a - b) <= max(absolute, relative * max(abs(a), abs(b)))
    return a == b


def changed(current: Optional[AnyStatus], evaluation: AnyStatus) -> bool:
    """Whether writing ``evaluation`` would change what the status says (beyond jitter, see ``TOLERANCE``)."""
    now = current.to_patch() if current is not None else {}
    new = evaluation.to_patch()
    for name in EVALUATION_FIELDS:
        if name not in new:
            continue
        relative, absolute = TOLERANCE.get(name, (0.0, 0.0))
        if not _close(now.get(name), new.get(name), relative, absolute):
            return True
    return False


def plan_status(
    tracked: Tracked,
    evaluation: AnyStatus,
    gate: Optional[GateStatus],
    now: float,
    interval: float,
    problem: Optional[RuleProblem] = None,
) -> Optional[AnyStatus]:
    """The patch for one object after a cycle, or None when nothing a reader sees changed and no heartbeat is due.

    The patch carries the whole evaluation and ``lastEvaluated``; ``Ready=True/Evaluated`` once the object is
    evaluated, or ``Stalled`` with the ``problem`` when Prometheus fails to evaluate one of its rules (unless its
    current generation is invalid, whose ``Stalled`` the reconcile owns); ``gate`` when the gate's status moved.
    """
    status = tracked.status
    patch = status_type(tracked.key[0])()
    due = now - tracked.written_at >= HEARTBEAT_INTERVALS * interval
    extra = False
    if gate is not None and gate.to_patch() != (status.gate.to_patch() if status.gate is not None else None):
        patch.gate = gate
        extra = True
    if not tracked.invalid and problem is not None:
        ready = status.condition("Ready")
        if ready is None or ready.status != "False" or ready.reason != problem.reason or ready.message != problem.message:
            patch.conditions = cond.stalled(status.conditions, problem.reason, problem.message, utc_timestamp(now), status.observed_generation)
            extra = True
    elif not tracked.invalid:
        ready = status.condition("Ready")
        if ready is None or ready.status != "True" or ready.reason != "Evaluated":
            patch.conditions = cond.ready(status.conditions, "Evaluated", EVALUATED_MESSAGE, utc_timestamp(now), status.observed_generation)
            extra = True
    if not (changed(status, evaluation) or due or extra):
        return None
    return patch.merged(evaluation).merged(type(patch)(last_evaluated=utc_timestamp(now)))


def plan_cycle(
    tracked: Sequence[Tracked],
    evaluations: Mapping[Key, AnyStatus],
    gates: Mapping[Key, GateStatus],
    now: float,
    interval: float,
    problems: Optional[Mapping[Key, RuleProblem]] = None,
) -> CyclePlan:
    """Every patch of a cycle in which Prometheus answered; ``problems`` are the objects whose rules fail."""
    plan = CyclePlan()
    for item in tracked:
        evaluation = evaluations[item.key]
        plan.states[(item.key[0], evaluation.state or "Unknown")] += 1
        patch = plan_status(item, evaluation, gates.get(item.key), now, interval, (problems or {}).get(item.key))
        if patch is not None:
            plan.patches[item.key] = patch
    return plan


def plan_outage(tracked: Sequence[Tracked], reason: str, now: float) -> dict[Key, tuple[AnyStatus, str]]:
    """The patches (and the Event message) when Prometheus did not answer: state ``Unknown``, ``Stalled`` with
    the reason, the gate's verdict ``error`` (it neither acts nor counts). Objects already marked for this outage
    and invalid objects (whose condition the reconcile owns) are left alone."""
    reason = redact(reason)  # status and Events are read in every namespace: never a credential of the URL
    message = f"{reason}. Values shown are from the last successful evaluation; retrying with backoff."
    result: dict[Key, tuple[AnyStatus, str]] = {}
    for item in tracked:
        if item.invalid:
            continue
        status = item.status
        ready = status.condition("Ready")
        if status.state == "Unknown" and ready is not None and ready.reason == "PrometheusUnavailable":
            continue
        patch = status_type(item.key[0])(
            state="Unknown",
            conditions=cond.stalled(status.conditions, "PrometheusUnavailable", message, utc_timestamp(now), status.observed_generation),
        )
        if item.gated:
            patch.gate = GateStatus.holding(status.gate, reason)
        result[item.key] = (patch, message)
    return result


def kpi_history_after(history: Sequence[tuple[float, Optional[float]]], kpi: KPI, at: float, value: Optional[float]) -> list[tuple[float, Optional[float]]]:
    """The KPI's readings after this cycle's, trimmed to what its gate can need (its ``for`` and an hour).

    ``at`` is the sample's own time (Prometheus' clock: the rule evaluation that wrote it), so ``for`` is
    measured on the samples, never on the operator's clock. A reading no newer than the last one (a stalled
    rule re-read, a cycle faster than the rule interval) is not a new sample and is not added.
    """
    if history and at <= history[-1][0]:
        return list(history)
    horizon = at - (compile_kpi(kpi).for_seconds + KPI_HISTORY_MARGIN)
    return [(t, v) for t, v in [*history, (at, value)] if t >= horizon]


def clock_disagreement(prometheus_now: Optional[float], sent: float, received: float, tolerance: float) -> Optional[str]:
    """Why the operator's clock cannot be trusted against Prometheus', or ``None``.

    ``prometheus_now`` is the evaluation time of the cycle's instant queries (Prometheus' clock), ``sent`` and
    ``received`` the operator's clock around them: a correct pair of clocks has it between the two. More than
    ``tolerance`` outside is skew (an NTP step, a stopped clock); the gates then hold with an error rather than
    judge freshness or a KPI's ``for`` across two clocks.
    """
    if prometheus_now is None:
        return None
    if prometheus_now < sent - tolerance:
        skew = sent - prometheus_now
        return f"The operator's clock is {skew:.0f}s ahead of Prometheus' (tolerance {tolerance:g}s, --max-clock-skew)."
    if prometheus_now > received + tolerance:
        skew = prometheus_now - received
        return f"The operator's clock is {skew:.0f}s behind Prometheus' (tolerance {tolerance:g}s, --max-clock-skew)."
    return None
