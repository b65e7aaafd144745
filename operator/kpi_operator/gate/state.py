"""The gate's memory between evaluations, kept in ``status.gate``, and the one function that moves it on.

``step`` takes the state, one verdict and what the Deployment runs (``TargetFacts``: its pod template, and what
the Deployment's own act record says of that template), and says whether to act. The rules:

- Each ``fail`` counts one consecutive failure; a ``pass`` resets the count to 0.
- ``inconclusive`` and ``error`` hold: they neither count nor reset. A Prometheus outage in the middle of a real
  incident must not wipe the failures already seen, and it must not add to them either. (``gate.noData: fail``
  is applied by the verdict functions, so such a case reaches ``step`` already as a ``fail``.)
- At ``failureLimit`` consecutive failures the gate acts (``Acted``), or with ``dryRun`` records that it would
  have (``DryRun``, once per failing streak; turning ``dryRun`` off while still failing then acts).
- A pod template is acted on at most once, by any gate: a template in the Deployment's refused list
  (``gate.record``) is ``Acted`` for the gate that acted against it and ``Held`` for every other gate; neither
  counts nor acts. The record lives on the Deployment, so a lost ``status.gate`` never allows a second act.
- The template this gate's rollback restored shows as ``Acted`` while it holds or passes; it is judged again
  (on data from after the restore only: the verdict functions' ``since``), and a real failure of it counts.
- Any other new template (a new rollout) re-arms the gate: ``Armed``, count 0, and the verdict in hand counts.

Templates are compared by ``gate.record.template_hash``; revision numbers are kept for people only (the
controller renumbers a restored template, and two gates see the same numbers differently).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any, Mapping, Optional, Union

from ..api.models import Gate
from ..api.timestamps import utc_timestamp
from .verdict import Outcome, Verdict


class Phase(str, Enum):
    """``status.gate.state``."""

    ARMED = "Armed"
    FAILING = "Failing"
    ACTED = "Acted"
    HELD = "Held"
    DRY_RUN = "DryRun"
    DISABLED = "Disabled"


class Decision(str, Enum):
    """What the caller must do after a ``step``."""

    NONE = "none"
    ACT = "act"
    WOULD_ACT = "would-act"


class Refusal(str, Enum):
    """What the Deployment's act record says of the template it runs."""

    NONE = "none"
    BY_THIS_GATE = "by-this-gate"
    BY_ANOTHER_GATE = "by-another-gate"


@dataclass(frozen=True)
class TargetFacts:
    """The Deployment as ``step`` needs it: the running template (``record.template_hash``), its revision number
    (for people), whether a gate acted against it, and whether this gate's rollback restored it."""

    template: str
    revision: Optional[str] = None
    refusal: Refusal = Refusal.NONE
    restored_here: bool = False


def _optional_str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


@dataclass(frozen=True)
class GateState:
    """``status.gate.targets[name]`` as data. ``to_dict`` / ``from_dict`` are its only wire format."""

    state: Phase = Phase.ARMED
    consecutive_failures: int = 0
    armed_template: Optional[str] = None
    armed_revision: Optional[str] = None
    armed_at: Optional[str] = None
    acted_template: Optional[str] = None
    acted_revision: Optional[str] = None
    last_action: Optional[dict[str, Any]] = None
    evidence_at: Optional[float] = None
    message: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "consecutiveFailures": self.consecutive_failures,
            "armedTemplate": self.armed_template,
            "armedRevision": self.armed_revision,
            "armedAt": self.armed_at,
            "actedTemplate": self.acted_template,
            "actedRevision": self.acted_revision,
            "lastAction": dict(self.last_action) if self.last_action is not None else None,
            "evidenceAt": self.evidence_at,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]) -> "GateState":
        """Read ``status.gate`` back; a missing, partial or hand-edited status gives a usable state, not an error
        (it can never allow an act: what was acted on is in the Deployment's record)."""
        if not isinstance(data, Mapping):
            return cls()
        try:
            phase = Phase(data.get("state"))
        except ValueError:
            phase = Phase.ARMED
        failures = data.get("consecutiveFailures")
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
            failures = 0
        last_action = data.get("lastAction")
        evidence_at = data.get("evidenceAt")
        return cls(
            state=phase,
            consecutive_failures=failures,
            armed_template=_optional_str(data.get("armedTemplate")),
            armed_revision=_optional_str(data.get("armedRevision")),
            armed_at=_optional_str(data.get("armedAt")),
            acted_template=_optional_str(data.get("actedTemplate")),
            acted_revision=_optional_str(data.get("actedRevision")),
            last_action=dict(last_action) if isinstance(last_action, Mapping) else None,
            evidence_at=float(evidence_at) if isinstance(evidence_at, (int, float)) and not isinstance(evidence_at, bool) else None,
            message=_optional_str(data.get("message")),
        )


def _rearm(state: GateState, target: TargetFacts, now: datetime) -> GateState:
    return replace(
        state,
        state=Phase.ACTED if target.restored_here else Phase.ARMED,
        consecutive_failures=0,
        armed_template=target.template,
        armed_revision=target.revision,
        armed_at=utc_timestamp(now),
        evidence_at=None,
        message=None,
    )


def step(
    state: GateState,
    verdict: Union[Outcome, Verdict],
    gate: Optional[Gate],
    target: Union[TargetFacts, str],
    now: datetime,
    evidence_at: Optional[float] = None,
) -> tuple[GateState, Decision]:
    """The state after one verdict on the Deployment's running template, and whether to act now.

    ``gate`` is the object's ``spec.gate``; ``None`` disables the gate (state ``Disabled``, never acts). ``now``
    stamps ``armedAt``. ``target`` may be a bare template name (tests). After ``ACT`` or ``WOULD_ACT`` the caller
    builds the action and records it with ``record_action``.

    ``evidence_at`` is the newest sample time behind the verdict (Prometheus' clock). A verdict on evidence no
    newer than the last one counted is the same evaluation read again (a stalled rule, a cycle faster than the
    rule interval): it neither counts nor acts, so ``failureLimit`` counts evaluations, not cycles. ``None``
    (no sample time known) counts every verdict.
    """
    facts = target if isinstance(target, TargetFacts) else TargetFacts(template=target, revision=target)
    kind = verdict.verdict if isinstance(verdict, Outcome) else Verdict(verdict)
    if gate is None:
        return replace(state, state=Phase.DISABLED, consecutive_failures=0), Decision.NONE
    if facts.refusal is Refusal.NONE and facts.template == state.acted_template:
        # This gate's status says it acted on the template, the Deployment's record does not: the record was
        # edited away. The status still stops a second act.
        facts = replace(facts, refusal=Refusal.BY_THIS_GATE)
    if facts.refusal is not Refusal.NONE:
        mine = facts.refusal is Refusal.BY_THIS_GATE
        return (
            replace(
                state,
                state=Phase.ACTED if mine else Phase.HELD,
                consecutive_failures=0 if not mine else state.consecutive_failures,
                armed_template=facts.template,
                armed_revision=facts.revision,
                acted_template=facts.template if mine else state.acted_template,
                acted_revision=facts.revision if mine and state.acted_template != facts.template else state.acted_revision,
                message=None if mine else "Another gate acted against the template this Deployment runs; this gate waits for a new one.",
            ),
            Decision.NONE,
        )
    if facts.template != state.armed_template or state.state in (Phase.DISABLED, Phase.HELD):
        state = _rearm(state, facts, now)
    rest = Phase.ACTED if facts.restored_here else Phase.ARMED

    if kind in (Verdict.PASS, Verdict.FAIL) and evidence_at is not None:
        if state.evidence_at is not None and evidence_at <= state.evidence_at:
            return state, Decision.NONE
        state = replace(state, evidence_at=evidence_at)
    if kind is Verdict.PASS:
        return replace(state, state=rest, consecutive_failures=0), Decision.NONE
    if kind is not Verdict.FAIL:
        return state, Decision.NONE

    failures = state.consecutive_failures + 1
    if failures < gate.failure_limit:
        return replace(state, state=Phase.FAILING, consecutive_failures=failures), Decision.NONE
    if gate.dry_run:
        if state.state is Phase.DRY_RUN:
            return replace(state, consecutive_failures=failures), Decision.NONE
        return replace(state, state=Phase.DRY_RUN, consecutive_failures=failures), Decision.WOULD_ACT
    return (
        replace(state, state=Phase.ACTED, consecutive_failures=failures, acted_template=facts.template, acted_revision=facts.revision),
        Decision.ACT,
    )


def not_acted(state: GateState, gate: Gate) -> GateState:
    """The state when the act ``step`` asked for was refused by the API server: nothing was acted on, and the
    next failure on the same template acts again (a retry, not a fresh streak of ``failureLimit``)."""
    return replace(state, state=Phase.FAILING, consecutive_failures=max(0, gate.failure_limit - 1), acted_template=None, acted_revision=None)


def record_action(state: GateState, action: Mapping[str, Any]) -> GateState:
    """The state once an act (or a dry run) is done: ``lastAction`` set from ``actions.last_action``'s dict."""
    return replace(state, last_action=dict(action))
