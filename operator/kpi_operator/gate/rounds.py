"""One round of a gate over every Deployment its selector matches: what to do, then the ``status.gate`` after it.

A round is split around its only I/O, the patches: ``plan_round`` takes the Deployments and ReplicaSets as read
and decides, per Deployment, the state after this verdict and whether to act (with the JSON Patch); the caller
sends the patches; ``finish_round`` takes which of them the API server accepted and gives the new
``status.gate``. Every decision is here, so it is tested as a table without a cluster.

A template is never acted on twice, by any gate: the act's own patch records it on the Deployment
(``gate.record``), so a lost status (a failed status write, a crash between the two writes, the object
re-created from Git) never allows a second act, and a second gate on the same Deployment sees it too. A template
a rollback restored is judged only on samples newer than the restore (``judge_since``). A Deployment whose
controller has not yet observed its latest spec (``status.observedGeneration`` below ``metadata.generation``)
is not judged: what runs is not yet what the spec says. A patch that failed records no act, and the next
failure on the same template acts again.

A selector only proposes targets: a Deployment it matches is judged (and so ever acted on, even as a dry run)
only when it names the gate in its ``kpi.dev/gated-by`` annotation (``consent``). The others are named in
``status.gate.notAllowed`` and ``message``; with none opted in, the gate is as with no match.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable, Mapping, Optional, Sequence

from ..api.models import Gate
from ..api.status import GateStatus
from ..api.timestamps import utc_timestamp
from .actions import ActionPlan, Actor, last_action, plan_action
from .consent import allows, not_allowed_message
from .record import current_template_hash, read_record
from .revisions import deployment_revision, replicaset_revisions
from .selector import matches_selector
from .state import Decision, GateState, Phase, Refusal, TargetFacts, not_acted, record_action, step
from .verdict import Outcome, Verdict

NO_TARGET_MESSAGE = "No Deployment matches spec.gate.selector."


@dataclass(frozen=True)
class TargetStep:
    """One Deployment's part of a round: its state after the verdict and, when acting, the plan."""

    name: str
    deployment: Mapping[str, Any]
    state: GateState
    decision: Decision
    outcome: Outcome
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
    me: str = ""
    not_allowed: tuple[str, ...] = ()

    @property
    def not_allowed_message(self) -> Optional[str]:
        """Why the gate leaves ``not_allowed`` alone, and the annotation that would change that; None when empty."""
        return not_allowed_message(self.not_allowed, self.me) if self.not_allowed else None


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


def consenting_deployments(deployments: Sequence[Mapping[str, Any]], gate: Gate, me: str) -> tuple[list[Mapping[str, Any]], tuple[str, ...]]:
    """Of the Deployments the selector matches (by name), those that name ``me`` (``SLO/name``) in their
    ``kpi.dev/gated-by`` annotation, and the names of the others. Without ``me`` only ``*`` opts in."""
    kind, _, name = me.partition("/")
    matched = matching_deployments(deployments, gate)
    return [d for d in matched if allows(d, kind, name)], tuple(d["metadata"]["name"] for d in matched if not allows(d, kind, name))


def rollout_pending(deployment: Mapping[str, Any]) -> Optional[str]:
    """Why the Deployment cannot be judged now, or ``None``: its controller has not observed its latest spec, so
    the pods that made the samples may not run the template the spec shows. A Deployment without a generation
    (a bare dict in a test or tool) is taken as settled."""
    generation = (deployment.get("metadata") or {}).get("generation")
    if generation is None:
        return None
    observed = (deployment.get("status") or {}).get("observedGeneration")
    if observed == generation:
        return None
    name = (deployment.get("metadata") or {}).get("name", "?")
    seen = "has not observed yet" if observed is None else f"has observed only up to generation {observed}"
    return (
        f"Deployment {name} has a spec change (generation {generation}) that its controller {seen}; the gate "
        "judges it once the rollout is under way."
    )


def plan_round(
    previous: Optional[GateStatus],
    outcome: Outcome,
    gate: Gate,
    deployments: Sequence[Mapping[str, Any]],
    replicasets: Sequence[Mapping[str, Any]],
    now: datetime,
    evidence_at: Optional[float] = None,
    *,
    me: str = "",
    acted_at: Optional[float] = None,
    judge_since: Optional[Callable[[float], Outcome]] = None,
) -> Round:
    """Step every matching Deployment's state with ``outcome``; plan the action where the state machine acts.

    ``evidence_at``: the newest sample time behind the outcome (see ``state.step``). ``me`` names the object
    (``SLO/name``) in the Deployment's act record; ``acted_at`` is the time an act is recorded with (Prometheus'
    clock). ``judge_since(t)`` gives the verdict on samples newer than ``t`` only, for a template a rollback
    restored at ``t``; without it such a template is not judged.
    """
    targets = dict(previous.targets) if previous is not None else {}
    steps = []
    allowed, not_allowed = consenting_deployments(deployments, gate, me)
    for deployment in allowed:
        name = deployment["metadata"]["name"]
        revision = deployment_revision(deployment, replicaset_revisions(deployment, replicasets).values())
        template = current_template_hash(deployment)
        record = read_record(deployment)
        state = GateState.from_dict(targets.get(name))
        refusal = Refusal.NONE
        if template in record.refused:
            mine = state.acted_template == template or (me and record.refused_by(template) == me)
            refusal = Refusal.BY_THIS_GATE if mine else Refusal.BY_ANOTHER_GATE
        restored_here = record.last is not None and record.last.restored == template and record.last.by == me
        facts = TargetFacts(template=template, revision=revision, refusal=refusal, restored_here=restored_here)
        if state.last_action is None and record.last is not None and me and record.last.by == me and template in (record.last.template, record.last.restored):
            state = replace(state, last_action=record.last.as_last_action())
        target_outcome = outcome
        pending = rollout_pending(deployment)
        since = record.restored_at(template)
        if pending is not None:
            target_outcome = Outcome(Verdict.INCONCLUSIVE, pending, None, outcome.threshold, outcome.query)
        elif since is not None and outcome.verdict in (Verdict.PASS, Verdict.FAIL):
            target_outcome = judge_since(since) if judge_since is not None else Outcome(
                Verdict.INCONCLUSIVE,
                f"Deployment {name} runs the template a rollback restored at {utc_timestamp(since)}; it is judged on "
                "samples from after that only.",
                None,
                outcome.threshold,
                outcome.query,
            )
        state, decision = step(state, target_outcome, gate, facts, now, evidence_at)
        plan = plan_action(gate.action, deployment, replicasets, Actor(me, acted_at)) if decision is not Decision.NONE else None
        steps.append(TargetStep(name=name, deployment=deployment, state=state, decision=decision, outcome=target_outcome, plan=plan))
    return Round(outcome=outcome, gate=gate, now=now, steps=tuple(steps), previous_targets=targets, me=me, not_allowed=not_allowed)


def act_report(round_: Round, target: TargetStep, subject: str) -> ActReport:
    """How an act (or a dry run, or a no-op) is announced; ``subject`` names the object (``SLO shop/checkout``)."""
    assert target.plan is not None
    verb = "would " + round_.gate.action if target.dry_run else round_.gate.action
    message = f"Gate {verb}: {target.plan.message} Verdict: {target.outcome.reason}"
    reason = "GateDryRun" if target.dry_run else ("GateNoop" if target.plan.noop else "GateActed")
    return ActReport(reason=reason, message=message, on_deployment=f"{subject}: {message}" if target.needs_patch else None)


def finish_round(round_: Round, failed: frozenset[str] = frozenset()) -> GateStatus:
    """``status.gate`` after the round; ``failed`` names the Deployments whose patch the API server refused
    (their state keeps the step but records no act)."""
    targets: dict[str, Any] = dict(round_.previous_targets)
    for target in round_.steps:
        state = target.state
        if target.name in failed:
            # Not acted: the next failure on the same template acts again.
            state = not_acted(state, round_.gate)
        elif target.decision is not Decision.NONE:
            assert target.plan is not None
            state = record_action(state, last_action(target.plan, target.outcome, round_.now, target.dry_run))
        targets[target.name] = state.to_dict()
    verdict = (round_.steps[0].outcome if round_.steps else round_.outcome).to_status()
    # message and notAllowed are always set (None removes them on the server): an earlier round's never lingers.
    not_allowed = list(round_.not_allowed) or None
    if not round_.steps:
        message = round_.not_allowed_message or NO_TARGET_MESSAGE
        return GateStatus(
            state=Phase.ARMED.value, consecutive_failures=0, last_action=None, verdict=verdict, targets=targets, message=message, not_allowed=not_allowed
        )
    first = targets[round_.steps[0].name]
    return GateStatus(
        state=first["state"],
        consecutive_failures=first["consecutiveFailures"],
        last_action=first.get("lastAction"),
        verdict=verdict,
        targets=targets,
        message=round_.not_allowed_message,
        not_allowed=not_allowed,
    )


def not_allowed_notice(previous: Optional[GateStatus], round_: Round) -> Optional[str]:
    """The ``GateNotAllowed`` Event's message when the round leaves alone Deployments other than those the
    previous ``status.gate.notAllowed`` named (when the set changes, not every cycle); None otherwise."""
    if not round_.not_allowed:
        return None
    before = set((previous.not_allowed or []) if previous is not None else [])
    return round_.not_allowed_message if set(round_.not_allowed) != before else None


def acted_on_failure(round_: Round) -> bool:
    """Whether any act of the round answers a verdict other than ``fail``: never expected (``step`` only acts on
    failures), checked so a regression is logged loudly."""
    return any(t.decision is not Decision.NONE and t.outcome.verdict is not Verdict.FAIL for t in round_.steps)
