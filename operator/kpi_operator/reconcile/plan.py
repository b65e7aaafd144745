"""From an object's body to what the operator must write: the PrometheusRule, the status, the Events.

Invalid objects (the API server accepted them, the operator cannot use them: PromQL the CRD schema cannot
check, a feature the rule schema cannot express) get ``Stalled`` with the field and reason, and no rule: the
PrometheusRule of the last good generation stays in place, and the status says which generation that is.

The handler's other outcomes are decided here too, so each has a status and a condition a person can read:
the rule's name is taken by a rule the operator does not own (``rule_ownership``, ``resolve_rule_conflict``),
the API server refused the rule or could not be reached (``rule_write_failed``), and what the operator keeps serving meanwhile (``next_serving``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from ..api import conditions as cond
from ..api.alert_templates import template_query_problems
from ..api.definition import next_definition
from ..api.loading import Problem, parse_object
from ..api.models import GROUP, KPI, SLO
from ..api.status import AnyStatus, status_type
from ..rules import SchemaError, build_prometheus_rule, generate_groups
from ..rules.prometheus_rule import MANAGED_BY

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


def plan_reconcile(body: dict[str, Any], default_schema: str, now_iso: str, allow_template_queries: bool = False) -> ReconcilePlan:
    """Everything a reconcile writes, computed without touching the cluster.

    ``allow_template_queries``: the operator's setting; without it an object whose alert templates call
    ``query`` is ``Stalled/TemplateQueryRefused`` (the models cannot refuse it: they do not know the setting).
    """
    kind = body.get("kind", "object")
    current = status_type(kind).from_wire(body.get("status"))
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    obj, problems = parse_object({k: v for k, v in body.items() if k != "status"})
    reason = "InvalidSpec"
    if obj is not None and not allow_template_queries and (refused := template_query_problems(obj)):
        obj, problems, reason = None, refused, "TemplateQueryRefused"
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
            conditions=cond.stalled(current.conditions, reason, message, now_iso, generation),
        )
        if current.state is None:
            invalid.state = "Unknown"
        return ReconcilePlan(obj=None, rule=None, status=invalid, events=[("Warning", reason, message)], problems=problems)
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


@dataclass(frozen=True)
class RuleOwnership:
    """Whose the live PrometheusRule of an object's name is, as far as the rule itself tells.

    ``verdict``: ``free`` (no rule of that name), ``own`` (the operator's label and an ownerReference to this
    object's uid), ``adopt`` (the operator's label and ownerReferences only to an earlier KPI/SLO of this very kind
    and name: ``earlier_uids``; the caller confirms that object is gone, see ``adoption_checked``) or ``taken``
    (anything else: ``message`` says who has it and what to do). Only ``free``, ``own`` and a confirmed ``adopt``
    let the operator write the rule; only ``own`` lets it delete the rule.
    """

    verdict: Literal["free", "own", "adopt", "taken"]
    message: str = ""
    earlier_uids: tuple[str, ...] = ()
    confirmed: bool = False  # adopt: the earlier owners were checked to be gone

    @property
    def writable(self) -> bool:
        return self.verdict in ("free", "own") or (self.verdict == "adopt" and self.confirmed)


def _managed_by_text() -> str:
    return ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


def rule_ownership(current: Optional[dict[str, Any]], body: dict[str, Any]) -> RuleOwnership:
    """Decide from the live rule ``current`` whether the KPI/SLO ``body`` may write (or delete) it.

    Why both marks: the label alone is copied by hand (or comes from ``kpi-operator generate`` output applied by
    GitOps), and an ownerReference alone may be a person's; a rule carrying the label and an ownerReference to an
    object of this kind and name was made by the operator for it, or for its predecessor under this name (an
    object re-created from Git gets a new uid, and its old rule should not be lost or duplicated).
    """
    if current is None:
        return RuleOwnership("free")
    meta = body.get("metadata") or {}
    kind, name, uid = body.get("kind", ""), meta.get("name", ""), meta.get("uid")
    rule_meta = current.get("metadata") or {}
    rule = f"PrometheusRule {rule_meta.get('namespace', meta.get('namespace'))}/{rule_meta.get('name', name)}"
    labels = rule_meta.get("labels") or {}
    if any(labels.get(key) != value for key, value in MANAGED_BY.items()):
        return RuleOwnership(
            "taken",
            f"{rule} exists and was not made by kpi-operator (no label {_managed_by_text()}); rename the {kind} or delete that rule.",
        )
    owners = [o for o in rule_meta.get("ownerReferences") or [] if str(o.get("apiVersion", "")).split("/")[0] == GROUP]
    if uid and any(o.get("uid") == uid for o in owners):
        return RuleOwnership("own")
    if not owners:
        return RuleOwnership(
            "taken",
            f"{rule} exists with the label {_managed_by_text()} but no KPI or SLO owns it (applied by hand or from "
            f"`kpi-operator generate`?); rename the {kind} or delete that rule.",
        )
    others = [o for o in owners if (o.get("kind"), o.get("name")) != (kind, name)]
    if others:
        holder = others[0]
        return RuleOwnership("taken", f"{rule} already belongs to {holder.get('kind')}/{holder.get('name')}; rename one of them.")
    earlier = tuple(str(o.get("uid")) for o in owners)
    return RuleOwnership("adopt", f"{rule} was made for an earlier {kind}/{name} (uid {', '.join(earlier)}).", earlier)


def adoption_checked(ownership: RuleOwnership, body: dict[str, Any], live_uid: Optional[str]) -> RuleOwnership:
    """An ``adopt`` verdict once the live object of this kind and name has been read (its uid, None when absent).

    Names are unique per kind and namespace, so when the live object is ``body``'s the earlier owners are gone
    and the rule is adopted. Otherwise ``body`` is itself a stale or deleted object, which must not take the rule
    from the living one: ``taken``.
    """
    if ownership.verdict != "adopt":
        return ownership
    meta = body.get("metadata") or {}
    if meta.get("uid") and live_uid == meta.get("uid") and live_uid not in ownership.earlier_uids:
        return RuleOwnership("adopt", ownership.message, ownership.earlier_uids, confirmed=True)
    kind, name = body.get("kind", ""), meta.get("name", "")
    return RuleOwnership(
        "taken", f"PrometheusRule {meta.get('namespace')}/{name} belongs to another {kind}/{name} (uid {', '.join(ownership.earlier_uids)}) that still exists."
    )


def resolve_rule_conflict(plan: ReconcilePlan, body: dict[str, Any], ownership: RuleOwnership, now_iso: str) -> ReconcilePlan:
    """The plan once the live rule of this name has been judged: unchanged when the operator may write it (with
    a ``RuleAdopted`` Event when it takes over an earlier same-named object's rule); otherwise
    ``Stalled/RuleNameTaken`` naming who has it, and no rule written.

    Nothing is applied, so (as in ``rule_write_failed``) neither the generation nor a new definition version is
    recorded. The Warning Event is posted when the object becomes stalled for this reason, not again on every
    retry that finds the name still taken.
    """
    meta = body.get("metadata") or {}
    if ownership.verdict == "adopt" and ownership.confirmed:
        message = (
            f"PrometheusRule {meta.get('namespace')}/{meta.get('name')} was made for an earlier {body.get('kind')} of this name "
            f"(uid {', '.join(ownership.earlier_uids)}), which is gone; this one takes it over."
        )
        return ReconcilePlan(obj=plan.obj, rule=plan.rule, status=plan.status, events=[*plan.events, ("Normal", "RuleAdopted", message)], problems=plan.problems)
    if ownership.writable:
        return plan
    generation = meta.get("generation")
    message = ownership.message
    unapplied = {k: v for k, v in plan.status.to_patch().items() if k not in ("lastAppliedGeneration", "definition")}
    status = type(plan.status).model_validate(unapplied)
    status.conditions = cond.stalled(plan.status.conditions, "RuleNameTaken", message, now_iso, generation)
    current = status_type(body.get("kind", "object")).from_wire(body.get("status")).condition("Stalled")
    already = current is not None and current.status == "True" and current.reason == "RuleNameTaken" and current.message == message
    events = [e for e in plan.events if e[1] != "DefinitionChanged"]
    if not already:
        events.append(("Warning", "RuleNameTaken", message))
    return ReconcilePlan(obj=plan.obj, rule=None, status=status, events=events, problems=plan.problems)


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
