"""Pure canary gate: verdicts per evaluation, the state machine, and the patch each action needs. No I/O.

A handler's loop, per gated object and Deployment::

    outcome = kpi_verdict(kpi, KPIReading(samples, query))            # or slo_verdict(slo, SLOReading(...))
    state, decision = step(GateState.from_dict(status.get("gate")), outcome, spec.gate,
                           TargetFacts(template_hash(deployment["spec"]["template"]), ...), now)
    if decision is not Decision.NONE:
        plan = plan_action(spec.gate.action, deployment, replicasets, Actor("SLO/name", prometheus_now))
        # ACT and not plan.noop: send plan.patch as application/json-patch+json
        state = record_action(state, last_action(plan, outcome, now, dry_run=decision is Decision.WOULD_ACT))
    status["gate"] = state.to_dict()

Modules: ``verdict`` (samples -> pass / fail / inconclusive / error), ``state`` (``status.gate`` and ``step``),
``revisions`` (a Deployment's revisions and ReplicaSets), ``record`` (the act record a patch writes on the
Deployment, keyed to pod templates), ``actions`` (JSON Patches), ``rounds`` (all of it over the Deployments a
selector matches), ``selector`` (label selectors).
"""

from .actions import (
    ACTED_REVISION_ANNOTATION,
    ACTION_ANNOTATION,
    REPLICAS_BEFORE_ANNOTATION,
    ActionPlan,
    Actor,
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
from .record import ActRecord, LastAct, read_record, template_hash
from .selector import matches_selector
from .state import Decision, GateState, Phase, Refusal, TargetFacts, record_action, step
from .verdict import KPIReading, Outcome, SLOReading, Verdict, error_budget, kpi_gate_bound, kpi_verdict, slo_verdict

__all__ = [
    "ACTED_REVISION_ANNOTATION",
    "ACTION_ANNOTATION",
    "POD_TEMPLATE_HASH_LABEL",
    "REPLICAS_BEFORE_ANNOTATION",
    "REVISION_ANNOTATION",
    "ActRecord",
    "ActionPlan",
    "Actor",
    "Decision",
    "GateState",
    "KPIReading",
    "LastAct",
    "Outcome",
    "Phase",
    "Refusal",
    "RollbackPlan",
    "SLOReading",
    "TargetFacts",
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
    "read_record",
    "record_action",
    "replicaset_revisions",
    "rollback_plan",
    "scale_to_zero_patch",
    "slo_verdict",
    "step",
    "template_hash",
    "without_pod_template_hash",
]
