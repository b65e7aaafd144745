"""Pure canary gate: verdicts per evaluation, the state machine, and the patch each action needs. No I/O.

A handler's loop, per gated object and Deployment::

    outcome = kpi_verdict(kpi, KPIReading(samples, query))            # or slo_verdict(slo, SLOReading(...))
    state, decision = step(GateState.from_dict(status.get("gate")), outcome, spec.gate,
                           deployment_revision(deployment, replicasets), now)
    if decision is not Decision.NONE:
        plan = plan_action(spec.gate.action, deployment, replicasets)
        # ACT and not plan.noop: send plan.patch as application/json-patch+json
        state = record_action(state, last_action(plan, outcome, now, dry_run=decision is Decision.WOULD_ACT))
    status["gate"] = state.to_dict()

Modules: ``verdict`` (samples -> pass / fail / inconclusive / error), ``state`` (``status.gate`` and ``step``),
``revisions`` (a Deployment's revisions and ReplicaSets), ``actions`` (JSON Patches), ``selector`` (label
selectors).
"""

from .actions import (
    ACTED_REVISION_ANNOTATION,
    ACTION_ANNOTATION,
    REPLICAS_BEFORE_ANNOTATION,
    ActionPlan,
    RollbackPlan,
    last_action,
    pause_patch,
    plan_action,
    rollback_plan,
    scale_to_zero_patch,
)
from .revisions import (
    POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION,
    deployment_revision,
    owned_replicasets,
    replicaset_revisions,
    without_pod_template_hash,
)
from .selector import matches_selector
from .state import Decision, GateState, Phase, record_action, step
from .verdict import KPIReading, Outcome, SLOReading, Verdict, error_budget, kpi_gate_bound, kpi_verdict, slo_verdict

__all__ = [
    "ACTED_REVISION_ANNOTATION",
    "ACTION_ANNOTATION",
    "POD_TEMPLATE_HASH_LABEL",
    "REPLICAS_BEFORE_ANNOTATION",
    "REVISION_ANNOTATION",
    "ActionPlan",
    "Decision",
    "GateState",
    "KPIReading",
    "Outcome",
    "Phase",
    "RollbackPlan",
    "SLOReading",
    "Verdict",
    "deployment_revision",
    "error_budget",
    "kpi_gate_bound",
    "kpi_verdict",
    "last_action",
    "matches_selector",
    "owned_replicasets",
    "pause_patch",
    "plan_action",
    "record_action",
    "replicaset_revisions",
    "rollback_plan",
    "scale_to_zero_patch",
    "slo_verdict",
    "step",
    "without_pod_template_hash",
]
