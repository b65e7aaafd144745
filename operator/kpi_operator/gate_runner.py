"""Runs the canary gate of one KPI or SLO on the evaluation loop's readings: the I/O around ``gate``.

The verdict, the state machine and the patches are pure (``gate``); this module reads the Deployments and
ReplicaSets the selector names, sends the patch when the state machine says to act, and records the act on both
objects (an annotation on the Deployment, ``status.gate`` and Events on the KPI/SLO). A revision is never acted
on twice because the acted revision is kept in ``status.gate`` and in the Deployment's annotation, both of which
survive an operator restart.

One gate state is kept per matching Deployment under ``status.gate.targets``; ``status.gate.state``,
``consecutiveFailures`` and ``lastAction`` mirror the first one by name, which is the usual single canary.
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any, Optional

from .api.durations import parse_duration_seconds
from .api.models import SLO
from .budget.evaluate import ObjectSeries
from .gate import (
    ACTED_REVISION_ANNOTATION,
    Decision,
    GateState,
    KPIReading,
    Outcome,
    SLOReading,
    Verdict,
    deployment_revision,
    kpi_verdict,
    last_action,
    matches_selector,
    plan_action,
    record_action,
    replicaset_revisions,
    slo_verdict,
    step,
)
from .rules import native
from .rules.windows import recorded_windows

if TYPE_CHECKING:
    from .handlers import Runtime
    from .store import Entry

logger = logging.getLogger("kpi_operator.gate")


def reading_for(entry: "Entry", series: ObjectSeries) -> Any:
    """The gate's input from the loop's readings: error ratios and event counts (SLO), sampled values (KPI)."""
    obj = entry.obj
    if isinstance(obj, SLO):
        ratios = {w: (max(v) if v else None) for w, v in series.error_ratios.items()}
        events = {w: (min(v) * parse_duration_seconds(w) if v else None) for w, v in series.total_rates.items()}
        for window in recorded_windows(obj):
            ratios.setdefault(window, None)
        return SLOReading(error_ratios=ratios, events=events, query=native.ERROR_RATIO.format(window="*"))
    return KPIReading(samples=list(entry.kpi_history), query=obj.spec.query if obj is not None else "")


def outcome_for(entry: "Entry", series: ObjectSeries) -> Outcome:
    obj = entry.obj
    reading = reading_for(entry, series)
    return slo_verdict(obj, reading) if isinstance(obj, SLO) else kpi_verdict(obj, reading)  # type: ignore[arg-type]


async def run_gate(runtime: "Runtime", entry: "Entry", evaluation: dict[str, Any], series: ObjectSeries, now: float) -> Optional[dict[str, Any]]:
    """One gate step for every Deployment the object's selector matches; returns the new ``status.gate``."""
    obj = entry.obj
    if obj is None or obj.spec.gate is None or runtime.kube is None:
        return None
    gate = obj.spec.gate
    outcome = outcome_for(entry, series)
    when = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    deployments = [
        d for d in await runtime.kube.list_deployments(entry.namespace) if matches_selector((d.get("metadata") or {}).get("labels") or {}, gate.selector)
    ]
    deployments.sort(key=lambda d: d["metadata"]["name"])
    previous = entry.status.get("gate") or {}
    targets: dict[str, Any] = dict(previous.get("targets") or {})
    replicasets: Optional[list[dict[str, Any]]] = None
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        if replicasets is None:
            replicasets = await runtime.kube.list_replicasets(entry.namespace)
        revision = deployment_revision(deployment, replicaset_revisions(deployment, replicasets).values()) or "0"
        annotations = deployment["metadata"].get("annotations") or {}
        state = GateState.from_dict(targets.get(name))
        if state.acted_revision is None and annotations.get(ACTED_REVISION_ANNOTATION):
            # The status was lost (object re-created from Git); the Deployment still remembers the act.
            state = GateState(acted_revision=annotations[ACTED_REVISION_ANNOTATION])
        state, decision = step(state, outcome, gate, revision, when)
        if decision is not Decision.NONE:
            state = await _act(runtime, entry, deployment, replicasets, state, outcome, decision, when)
        targets[name] = state.to_dict()
    if not deployments:
        return {**_summary(None), "verdict": outcome.to_dict(), "targets": targets, "message": "No Deployment matches spec.gate.selector."}
    first = targets[deployments[0]["metadata"]["name"]]
    return {**_summary(first), "verdict": outcome.to_dict(), "targets": targets}


def _summary(state: Optional[dict[str, Any]]) -> dict[str, Any]:
    if state is None:
        return {"state": "Armed", "consecutiveFailures": 0, "lastAction": None}
    return {"state": state["state"], "consecutiveFailures": state["consecutiveFailures"], "lastAction": state.get("lastAction")}


async def _act(
    runtime: "Runtime",
    entry: "Entry",
    deployment: dict[str, Any],
    replicasets: list[dict[str, Any]],
    state: GateState,
    outcome: Outcome,
    decision: Decision,
    when: datetime.datetime,
) -> GateState:
    assert entry.obj is not None and entry.obj.spec.gate is not None and runtime.kube is not None
    gate = entry.obj.spec.gate
    plan = plan_action(gate.action, deployment, replicasets)
    dry_run = decision is Decision.WOULD_ACT
    name = deployment["metadata"]["name"]
    if not dry_run and not plan.noop:
        try:
            await runtime.kube.json_patch_deployment(entry.namespace, name, plan.patch)
        except Exception as error:
            # Most often the revision moved on between the read and the patch (the patch's test failed): the
            # next cycle re-reads and judges the new revision.
            logger.warning("gate %s on Deployment %s/%s failed: %s", gate.action, entry.namespace, name, error)
            await runtime.kube.post_event(entry.reference, "Warning", "GateActionFailed", f"{gate.action} of Deployment {name} failed: {error}")
            return GateState(state=state.state, consecutive_failures=state.consecutive_failures, armed_revision=state.armed_revision, armed_at=state.armed_at, last_action=state.last_action, restored_revision=state.restored_revision)
    action = last_action(plan, outcome, when, dry_run)
    runtime.telemetry.gate_actions.labels(gate.action, str(dry_run).lower()).inc()
    verb = "would " + gate.action if dry_run else gate.action
    message = f"Gate {verb}: {plan.message} Verdict: {outcome.reason}"
    reason = "GateDryRun" if dry_run else ("GateNoop" if plan.noop else "GateActed")
    await runtime.kube.post_event(entry.reference, "Warning", reason, message)
    if not dry_run and not plan.noop:
        await runtime.kube.post_event({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": deployment["metadata"]}, "Warning", "GateActed", f"{entry.kind} {entry.namespace}/{entry.name}: {message}")
    logger.warning("%s %s/%s: %s", entry.kind, entry.namespace, entry.name, message)
    if outcome.verdict is not Verdict.FAIL:
        logger.error("gate acted on a %s verdict; this is a bug", outcome.verdict.value)
    return record_action(state, action)
