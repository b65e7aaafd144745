"""Rule health in, the real cause per object out: which object's recording rules Prometheus fails to evaluate,
and why. Pure.

A failing recording rule writes nothing, so its object would read ``NoData`` ("the service is silent") when the
truth is "the rule is broken": a KPI query yielding more series than the group's ``limit``
(``rules.naming.SERIES_LIMIT``), or one Prometheus cannot evaluate (``vector cannot contain metrics with the
same labelset``). Prometheus says so in its rules API (``/api/v1/rules``: each rule's ``health`` and
``lastError``), which the loop reads at most once a cycle; the groups are mapped back to objects by the names
``rules.group_names`` gives them, so one object's broken rule is reported on that object alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Union

from ..api.models import KPI, SLO
from ..rules import group_names
from .collect import Key, key_of

TOO_MANY_SERIES = "TooManySeries"
RULE_FAILING = "RuleFailing"

#: Prometheus' message when a rule yields more series than its group's ``limit``.
_LIMIT_ERROR = "exceeded limit of"

MESSAGE_LIMIT = 1024  # characters of Prometheus' error kept in a condition message: a status is not a log


@dataclass(frozen=True)
class RuleProblem:
    """Why an object's rules do not record: the condition reason and a message a person can act on."""

    reason: str
    message: str


def _message(reason: str, group: str, rule: str, error: str) -> str:
    error = error if len(error) <= MESSAGE_LIMIT else error[:MESSAGE_LIMIT] + "..."
    if reason == TOO_MANY_SERIES:
        return (
            f"Prometheus records nothing for rule {rule} of group {group}: {error}. A KPI is one number (or one per "
            "group of a few labels): aggregate the query, e.g. sum by (route) (...)."
        )
    return f"Prometheus fails to evaluate rule {rule} of group {group}: {error}. Fix the query."


def rule_problems(
    groups: Iterable[Mapping[str, Any]],
    objects: Iterable[Union[SLO, KPI]],
    default_schema: str = "native",
) -> dict[Key, RuleProblem]:
    """The first failing rule of each object, from the ``groups`` of Prometheus' rules API answer.

    Groups not named after a known object (other tools' rules) are ignored; a rule whose health is not ``err``
    is fine. A limit exceeded is ``TooManySeries``, anything else ``RuleFailing``.
    """
    owners: dict[str, list[Key]] = {}
    for obj in objects:
        for name in group_names(obj, default_schema):  # type: ignore[arg-type]
            owners.setdefault(name, []).append(key_of(obj))
    result: dict[Key, RuleProblem] = {}
    for group in groups:
        keys = owners.get(str(group.get("name", "")))
        if not keys:
            continue
        problem = _group_problem(group)
        if problem is None:
            continue
        for key in keys:
            result.setdefault(key, problem)
    return result


def _group_problem(group: Mapping[str, Any]) -> Optional[RuleProblem]:
    for rule in group.get("rules") or []:
        if rule.get("health") != "err":
            continue
        error = str(rule.get("lastError") or "unknown error")
        reason = TOO_MANY_SERIES if _LIMIT_ERROR in error else RULE_FAILING
        return RuleProblem(reason, _message(reason, str(group.get("name")), str(rule.get("name")), error))
    return None
