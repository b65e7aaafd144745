"""From an object's body to what the operator must write: the PrometheusRule, the status, the Events.

Invalid objects (the API server accepted them, the operator cannot use them: PromQL the CRD schema cannot
check, a feature the rule schema cannot express) get ``Stalled`` with the field and reason, and no rule: the
PrometheusRule of the last good generation stays in place, and the status says which generation that is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..api.definition import next_definition
from ..api.loading import Problem, parse_object
from ..api.models import KPI, SLO
from ..rules import SchemaError, build_prometheus_rule, generate_groups
from . import conditions as cond

Event = tuple[str, str, str]  # (type: Normal | Warning, reason, message)


@dataclass
class ReconcilePlan:
    obj: Optional[Union[SLO, KPI]]
    rule: Optional[dict[str, Any]]
    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _problems_text(problems: list[Problem]) -> str:
    return "; ".join(str(p) for p in problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")


def plan_reconcile(body: dict[str, Any], default_schema: str, now_iso: str) -> ReconcilePlan:
    """Everything a reconcile writes, computed without touching the cluster."""
    status = dict(body.get("status") or {})
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    previous_conditions = status.get("conditions") or []
    obj, problems = parse_object({k: v for k, v in body.items() if k != "status"})
    groups = None
    if obj is not None:
        definition, bumped = next_definition(status.get("definition"), obj, now_iso)
        try:
            groups = generate_groups(obj, default_schema, definition["version"])  # type: ignore[arg-type]
        except SchemaError as error:
            problems = [Problem(error.path, error.message)]
    if obj is None or groups is None:
        last_good = status.get("lastAppliedGeneration")
        kept = (
            f" The PrometheusRule of generation {last_good} stays in place."
            if last_good is not None
            else " No PrometheusRule was created."
        )
        message = f"Invalid {body.get('kind', 'object')}: {_problems_text(problems)}.{kept} Fix the spec and re-apply."
        new_status = {
            "observedGeneration": generation,
            "conditions": cond.stalled(previous_conditions, "InvalidSpec", message, now_iso, generation),
        }
        if "state" not in status:
            new_status["state"] = "Unknown"
        return ReconcilePlan(obj=None, rule=None, status=new_status, events=[("Warning", "InvalidSpec", message)], problems=problems)
    assert obj is not None and groups is not None
    rule = build_prometheus_rule(obj, groups)
    events: list[Event] = []
    previous = status.get("definition")
    if bumped:
        events.append(
            (
                "Normal",
                "DefinitionChanged",
                f"Definition changed from version {previous['version']} (hash {previous.get('hash')}) to version "
                f"{definition['version']} (hash {definition['hash']}): values before and after are not comparable.",
            )
        )
    message = (
        f"PrometheusRule {obj.metadata.namespace}/{obj.metadata.name} holds {len(groups)} rule groups "
        f"({sum(len(g['rules']) for g in groups)} rules), definition version {definition['version']}."
    )
    evaluated = status.get("lastEvaluated") is not None and status.get("state") not in (None, "Unknown")
    conditions = (
        cond.ready(previous_conditions, "RulesApplied", message, now_iso, generation)
        if evaluated
        else cond.reconciling(previous_conditions, "AwaitingEvaluation", message + " Waiting for the first evaluation.", now_iso, generation)
    )
    new_status = {
        "observedGeneration": generation,
        "lastAppliedGeneration": generation,
        "definition": definition,
        "conditions": conditions,
    }
    return ReconcilePlan(obj=obj, rule=rule, status=new_status, events=events)


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
