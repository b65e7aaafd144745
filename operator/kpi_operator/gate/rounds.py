"""One round of a gate over every Deployment its selector matches: what to do, then the ``status.gate`` after it.

A round is split around its only I/O, the patches: ``plan_round`` takes the Deployments and ReplicaSets as read
and decides, per Deployment, the state after this verdict and whether to act (with the JSON Patch); the caller
sends the patches; ``finish_round`` takes which of them the API server accepted and gives the new
``status.gate``. Every decision is here, so it is tested as a table without a cluster.

A revision is never acted on twice: the acted revision is kept per Deployment in ``status.gate.targets`` and in
the Deployment's ``ACTED_REVISION_ANNOTATION``; when the status was lost (the object re-created from Git) the
annotation still stops a second act. A patch that failed records no act, so the next round judges again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

from ..api.models import Gate
from ..api.status import GateStatus
from .actions import ACTED_REVISION_ANNOTATION, ActionPlan, last_action, plan_action
from .revisions import deployment_revision, replicaset_revisions
from .selector import matches_selector
from .state import Decision, GateState, Phase, record_action, step
from .verdict import Outcome, Verdict

NO_TARGET_MESSAGE = "No Deployment matches spec.gate.selector."


@dataclass(frozen=True)
class TargetStep:
    """One Deployment's part of a round: its state after the verdict and, when acting, the plan."""

    name: str
    deployment: Mapping[str, Any]
    state: GateState
    decision: Decision
    plan: Optional[ActionPlan] = None

    @property
    def dry_run(self) -> bool:
        return self.decision is Decision.WOULD_ACT

    @property
    def needs_patch(self) -> bool:
        """Whether the caller must send ``plan.patch`` (a real act that changes something)."""
        return self.decision is Decision.ACT and self.plan is not None and not self.plan.noop


@dataclass(frozen=True)
class Round:
    outcome: Outcome
    gate: Gate
    now: datetime
    steps: tuple[TargetStep, ...]
    previous_targets: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class ActReport:
    """The Events an act is reported with: on the KPI/SLO always, on the Deployment when it was changed."""

    reason: str
    message: str
    on_deployment: Optional[str]


def matching_deployments(deployments: Sequence[Mapping[str, Any]], gate: Gate) -> list[Mapping[str, Any]]:
    """The Deployments the gate protects, by name (the first is the one ``status.gate`` mirrors)."""
    chosen = [d for d in deployments if matches_selector((d.get("metadata") or {}).get("labels") or {}, gate.selector)]
    return sorted(chosen, key=lambda d: d["metadata"]["name"])


def plan_round(
    previous: Optional[GateStatus],
    outcome: Outcome,
    gate: Gate,
    deployments: Sequence[Mapping[str, Any]],
    replicasets: Sequence[Mapping[str, Any]],
    now: datetime,
    evidence_at: Optional[float] = None,
) -> Round:
    """Step every matching Deployment's state with ``outcome``; plan the action where the state machine acts.
    ``evidence_at``: the newest sample time behind the outcome (see ``state.step``)."""
    targets = dict(previous.targets) if previous is not None else {}
    steps = []
    for deployment in matching_deployments(deployments, gate):
        name = deployment["metadata"]["name"]
        revision = deployment_revision(deployment, replicaset_revisions(deployment, replicasets).values()) or "0"
        annotations = deployment["metadata"].get("annotations") or {}
        state = GateState.from_dict(targets.get(name))
        if state.acted_revision is None and annotations.get(ACTED_REVISION_ANNOTATION):
            state = GateState(acted_revision=annotations[ACTED_REVISION_ANNOTATION])
        state, decision = step(state, outcome, gate, revision, now, evidence_at)
        plan = plan_action(gate.action, deployment, replicasets) if decision is not Decision.NONE else None
        steps.append(TargetStep(name=name, deployment=deployment, state=state, decision=decision, plan=plan))
    return Round(outcome=outcome, gate=gate, now=now, steps=tuple(steps), previous_targets=targets)


def act_report(round_: Round, target: TargetStep, subject: str) -> ActReport:
    """How an act (or a dry run, or a no-op) is announced; ``subject`` names the object (``SLO shop/checkout``)."""
    assert target.plan is not None
    verb = "would " + round_.gate.action if target.dry_run else round_.gate.action
    message = f"Gate {verb}: {target.plan.message} Verdict: {round_.outcome.reason}"
    reason = "GateDryRun" if target.dry_run else ("GateNoop" if target.plan.noop else "GateActed")
    return ActReport(reason=reason, message=message, on_deployment=f"{subject}: {message}" if target.needs_patch else None)


def finish_round(round_: Round, failed: frozenset[str] = frozenset()) -> GateStatus:
    """``status.gate`` after the round; ``failed`` names the Deployments whose patch the API server refused
    (their state keeps the step but records no act)."""
    targets: dict[str, Any] = dict(round_.previous_targets)
    for target in round_.steps:
        state = target.state
        if target.name in failed:
            # Not acted: forget the revision ``step`` marked as acted on, so the next round judges it again.
            state = replace(state, acted_revision=None)
        elif target.decision is not Decision.NONE:
            assert target.plan is not None
            state = record_action(state, last_action(target.plan, round_.outcome, round_.now, target.dry_run))
        targets[target.name] = state.to_dict()
    verdict = round_.outcome.to_status()
    if not round_.steps:
        return GateStatus(state=Phase.ARMED.value, consecutive_failures=0, last_action=None, verdict=verdict, targets=targets, message=NO_TARGET_MESSAGE)
    first = targets[round_.steps[0].name]
    return GateStatus(
        state=first["state"],
        consecutive_failures=first["consecutiveFailures"],
        last_action=first.get("lastAction"),
        verdict=verdict,
        targets=targets,
    )


def acted_on_failure(round_: Round) -> bool:
    """Whether any act of the round answers a verdict other than ``fail``: never expected (``step`` only acts on
    failures), checked so a regression is logged loudly."""
    return any(t.decision is not Decision.NONE and round_.outcome.verdict is not Verdict.FAIL for t in round_.steps)
