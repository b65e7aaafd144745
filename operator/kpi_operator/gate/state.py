"""The gate's memory between evaluations, kept in ``status.gate``, and the one function that moves it on.

``step`` takes the state, one verdict and the Deployment's current revision, and says whether to act. The rules:

- Each ``fail`` counts one consecutive failure; a ``pass`` resets the count to 0.
- ``inconclusive`` and ``error`` hold: they neither count nor reset. A Prometheus outage in the middle of a real
  incident must not wipe the failures already seen, and it must not add to them either. (``gate.noData: fail``
  is applied by the verdict functions, so such a case reaches ``step`` already as a ``fail``.)
- At ``failureLimit`` consecutive failures the gate acts (``Acted``), or with ``dryRun`` records that it would
  have (``DryRun``, once per failing streak; turning ``dryRun`` off while still failing then acts).
- A revision is never acted on twice: once ``actedRevision`` is the Deployment's revision, the gate stays
  ``Acted`` whatever it sees. Neither is the revision a rollback itself creates (Kubernetes numbers the restored
  template ``max + 1``; see ``record_action``), so a rollback never re-arms the gate and then walks further back
  through the history while an outage elsewhere keeps the KPI red.
- Any other new revision re-arms the gate: ``Armed``, count 0, and the verdict in hand counts towards it.

Revisions are opaque strings to this module; Kubernetes never reuses a Deployment revision number, which is what
makes remembering only the last acted revision enough.
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
    DRY_RUN = "DryRun"
    DISABLED = "Disabled"


class Decision(str, Enum):
    """What the caller must do after a ``step``."""

    NONE = "none"
    ACT = "act"
    WOULD_ACT = "would-act"


def _optional_str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


@dataclass(frozen=True)
class GateState:
    """``status.gate`` as data. ``to_dict`` / ``from_dict`` are its only wire format."""

    state: Phase = Phase.ARMED
    consecutive_failures: int = 0
    armed_revision: Optional[str] = None
    armed_at: Optional[str] = None
    acted_revision: Optional[str] = None
    restored_revision: Optional[str] = None
    last_action: Optional[dict[str, Any]] = None
    evidence_at: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "consecutiveFailures": self.consecutive_failures,
            "armedRevision": self.armed_revision,
            "armedAt": self.armed_at,
            "actedRevision": self.acted_revision,
            "restoredRevision": self.restored_revision,
            "lastAction": dict(self.last_action) if self.last_action is not None else None,
            "evidenceAt": self.evidence_at,
        }

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]]) -> "GateState":
        """Read ``status.gate`` back; a missing, partial or hand-edited status gives a usable state, not an error."""
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
            armed_revision=_optional_str(data.get("armedRevision")),
            armed_at=_optional_str(data.get("armedAt")),
            acted_revision=_optional_str(data.get("actedRevision")),
            restored_revision=_optional_str(data.get("restoredRevision")),
            last_action=dict(last_action) if isinstance(last_action, Mapping) else None,
            evidence_at=float(evidence_at) if isinstance(evidence_at, (int, float)) and not isinstance(evidence_at, bool) else None,
        )


def _rearm(state: GateState, revision: str, now: datetime) -> GateState:
    return replace(state, state=Phase.ARMED, consecutive_failures=0, armed_revision=revision, armed_at=utc_timestamp(now))


def step(
    state: GateState,
    verdict: Union[Outcome, Verdict],
    gate: Optional[Gate],
    target_revision: str,
    now: datetime,
    evidence_at: Optional[float] = None,
) -> tuple[GateState, Decision]:
    """The state after one verdict on ``target_revision``, and whether to act now.

    ``gate`` is the object's ``spec.gate``; ``None`` disables the gate (state ``Disabled``, never acts, acted
    revisions kept). ``now`` stamps ``armedAt`` when a revision is armed. After ``ACT`` or ``WOULD_ACT`` the
    caller builds the action and records it with ``record_action``.

    ``evidence_at`` is the newest sample time behind the verdict (Prometheus' clock). A verdict on evidence no
    newer than the last one counted is the same evaluation read again (a stalled rule, a cycle faster than the
    rule interval): it neither counts nor acts, so ``failureLimit`` counts evaluations, not cycles. ``None``
    (no sample time known) counts every verdict.
    """
    kind = verdict.verdict if isinstance(verdict, Outcome) else Verdict(verdict)
    if gate is None:
        return replace(state, state=Phase.DISABLED, consecutive_failures=0), Decision.NONE
    if target_revision in (state.acted_revision, state.restored_revision):
        return replace(state, state=Phase.ACTED, armed_revision=target_revision), Decision.NONE
    if target_revision != state.armed_revision or state.state in (Phase.DISABLED, Phase.ACTED):
        state = _rearm(state, target_revision, now)

    if kind in (Verdict.PASS, Verdict.FAIL) and evidence_at is not None:
        if state.evidence_at is not None and evidence_at <= state.evidence_at:
            return state, Decision.NONE
        state = replace(state, evidence_at=evidence_at)
    if kind is Verdict.PASS:
        return replace(state, state=Phase.ARMED, consecutive_failures=0), Decision.NONE
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
        replace(state, state=Phase.ACTED, consecutive_failures=failures, acted_revision=target_revision, restored_revision=None),
        Decision.ACT,
    )


def record_action(state: GateState, action: Mapping[str, Any]) -> GateState:
    """The state once an act (or a dry run) is done: ``lastAction`` set from ``actions.last_action``'s dict.

    A real rollback also remembers ``resultRevision``, the number Kubernetes gives the restored template, so
    that ``step`` treats it as acted on rather than as a new revision to arm.
    """
    restored = state.restored_revision
    if not action.get("dryRun") and not action.get("noop") and action.get("resultRevision") is not None:
        restored = str(action["resultRevision"])
    return replace(state, last_action=dict(action), restored_revision=restored)
