"""From an object's body to what the operator must write: the PrometheusRule, the status, the Events.

Invalid objects (the API server accepted them, the operator cannot use them: PromQL the CRD schema cannot
check, a feature the rule schema cannot express) get ``Stalled`` with the field and reason, and no rule: the
PrometheusRule of the last good generation stays in place, and the status says which generation that is.

The handler's other outcomes are decided here too, so each has a status and a condition a person can read:
the rule's name is taken by another object (``resolve_rule_conflict``), the API server refused the rule or
could not be reached (``rule_write_failed``), and what the operator keeps serving meanwhile (``next_serving``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..api import conditions as cond
from ..api.definition import next_definition
from ..api.loading import Problem, parse_object
from ..api.models import KPI, SLO
from ..api.status import AnyStatus, status_type
from ..rules import SchemaError, build_prometheus_rule, generate_groups

Event = tuple[str, str, str]  # (type: Normal | Warning, reason, message)
Model = Union[SLO, KPI]


@dataclass
class ReconcilePlan:
    """What one reconcile writes: ``status`` is the merge patch (only the fields it sets)."""

    obj: Optional[Model]
    rule: Optional[dict[str, Any]]
    status: AnyStatus
    events: list[Event] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Serving:
    """What the operator serves for one object between events: the model it evaluates and gates, and the rule
    it puts back when someone edits it. ``invalid``: the current generation is not usable, and ``obj`` / ``rule``
    are the last good generation's (or None)."""

    obj: Optional[Model]
    rule: Optional[dict[str, Any]]
    invalid: bool = False


def _problems_text(problems: list[Problem]) -> str:
    return "; ".join(str(p) for p in problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")


def plan_reconcile(body: dict[str, Any], default_schema: str, now_iso: str) -> ReconcilePlan:
    """Everything a reconcile writes, computed without touching the cluster."""
    kind = body.get("kind", "object")
    current = status_type(kind).from_wire(body.get("status"))
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    obj, problems = parse_object({k: v for k, v in body.items() if k != "status"})
    groups = None
    if obj is not None:
        definition, bumped = next_definition(current.definition, obj, now_iso)
        try:
            groups = generate_groups(obj, default_schema, definition.version)  # type: ignore[arg-type]
        except SchemaError as error:
            problems = [Problem(error.path, error.message)]
    if obj is None or groups is None:
        last_good = current.last_applied_generation
        kept = (
            f" The PrometheusRule of generation {last_good} stays in place."
            if last_good is not None
            else " No PrometheusRule was created."
        )
        message = f"Invalid {kind}: {_problems_text(problems)}.{kept} Fix the spec and re-apply."
        invalid = status_type(kind)(
            observed_generation=generation,
            conditions=cond.stalled(current.conditions, "InvalidSpec", message, now_iso, generation),
        )
        if current.state is None:
            invalid.state = "Unknown"
        return ReconcilePlan(obj=None, rule=None, status=invalid, events=[("Warning", "InvalidSpec", message)], problems=problems)
    rule = build_prometheus_rule(obj, groups)
    events: list[Event] = []
    previous = current.definition
    if bumped and previous is not None:
        events.append(
            (
                "Normal",
                "DefinitionChanged",
                f"Definition changed from version {previous.version} (hash {previous.hash}) to version "
                f"{definition.version} (hash {definition.hash}): values before and after are not comparable.",
            )
        )
    message = (
        f"PrometheusRule {obj.metadata.namespace}/{obj.metadata.name} holds {len(groups)} rule groups "
        f"({sum(len(g['rules']) for g in groups)} rules), definition version {definition.version}."
    )
    evaluated = current.last_evaluated is not None and current.state not in (None, "Unknown")
    conditions = (
        cond.ready(current.conditions, "RulesApplied", message, now_iso, generation)
        if evaluated
        else cond.reconciling(current.conditions, "AwaitingEvaluation", message + " Waiting for the first evaluation.", now_iso, generation)
    )
    applied = status_type(kind)(
        observed_generation=generation,
        last_applied_generation=generation,
        definition=definition,
        conditions=conditions,
    )
    return ReconcilePlan(obj=obj, rule=rule, status=applied, events=events)


def rule_taken_by(current: Optional[dict[str, Any]], uid: Optional[str]) -> Optional[str]:
    """``Kind/name`` of another KPI/SLO that owns the existing PrometheusRule of this name, if any.

    A KPI and an SLO with one name in one namespace would share a rule; the second is stalled instead of taking
    the first one's rules over.
    """
    if current is None or uid is None:
        return None
    for owner in current.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("uid") != uid and str(owner.get("apiVersion", "")).startswith("kpi.dev/"):
            return f"{owner.get('kind')}/{owner.get('name')}"
    return None


def resolve_rule_conflict(plan: ReconcilePlan, body: dict[str, Any], current_rule: Optional[dict[str, Any]], now_iso: str) -> ReconcilePlan:
    """The plan once the live rule of this name has been read: unchanged when it is free or already this
    object's; ``Stalled/RuleNameTaken`` and no rule when another KPI/SLO owns it."""
    meta = body.get("metadata") or {}
    conflict = rule_taken_by(current_rule, meta.get("uid"))
    if not conflict:
        return plan
    message = f"PrometheusRule {meta.get('namespace')}/{meta.get('name')} already belongs to {conflict}; rename one of them."
    status = plan.status.model_copy()
    status.conditions = cond.stalled(plan.status.conditions, "RuleNameTaken", message, now_iso, meta.get("generation"))
    return ReconcilePlan(obj=plan.obj, rule=None, status=status, events=[*plan.events, ("Warning", "RuleNameTaken", message)], problems=plan.problems)


def rule_write_failed(plan: ReconcilePlan, body: dict[str, Any], error: str, permanent: bool, now_iso: str) -> ReconcilePlan:
    """The plan when writing the PrometheusRule failed.

    ``permanent``: the API server refused the rule (invalid, forbidden, too large); retrying the same rule
    cannot succeed, so the object is ``Stalled/RuleRejected`` until its spec (or the cluster's policy) changes.
    Otherwise (unreachable, overloaded, a conflict) it is ``Reconciling/RuleWritePending`` and the write is
    retried. Either way the status and an Event say why; the rule is not recorded as applied.
    """
    meta = body.get("metadata") or {}
    generation = meta.get("generation")
    rule = f"PrometheusRule {meta.get('namespace')}/{meta.get('name')}"
    # Nothing was applied: neither the generation nor a new definition version is recorded, so the retry (or
    # the fixed object) announces the definition change when its rule lands.
    unapplied = {k: v for k, v in plan.status.to_patch().items() if k not in ("lastAppliedGeneration", "definition")}
    status = type(plan.status).model_validate(unapplied)
    events = [e for e in plan.events if e[1] != "DefinitionChanged"]
    if permanent:
        message = f"The API server refused {rule}: {error}. Fix the spec or the cluster's policy and re-apply."
        status.conditions = cond.stalled(plan.status.conditions, "RuleRejected", message, now_iso, generation)
        events.append(("Warning", "RuleRejected", message))
    else:
        message = f"Writing {rule} failed: {error}. Retrying."
        status.conditions = cond.reconciling(plan.status.conditions, "RuleWritePending", message, now_iso, generation)
        events.append(("Warning", "RuleWritePending", message))
    return ReconcilePlan(obj=plan.obj, rule=None, status=status, events=events, problems=plan.problems)


def next_serving(plan: ReconcilePlan, previous: Optional[Serving]) -> Serving:
    """What to serve after a reconcile: the new model and rule when the plan has a rule to apply; otherwise the
    previous generation's (same object only: the caller passes ``None`` for a re-created one), marked invalid."""
    if plan.rule is not None and plan.obj is not None:
        return Serving(obj=plan.obj, rule=plan.rule, invalid=False)
    if previous is not None:
        return Serving(obj=previous.obj, rule=previous.rule, invalid=True)
    return Serving(obj=None, rule=None, invalid=True)
