"""kstatus-style conditions (``Ready``, ``Reconciling``, ``Stalled``), so Flux health checks and ``kubectl wait``
work on KPIs and SLOs.

``lastTransitionTime`` changes only when a condition's status flips; a new reason or message alone keeps it.
"""

from __future__ import annotations

from typing import Any, Optional


def set_condition(
    conditions: Optional[list[dict[str, Any]]],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    now_iso: str,
    generation: Optional[int] = None,
) -> list[dict[str, Any]]:
    """A new list with one condition set (added or replaced), the others kept in their order."""
    value = "True" if status else "False"
    result = []
    found = False
    for condition in conditions or []:
        if condition.get("type") != type_:
            result.append(dict(condition))
            continue
        found = True
        transition = condition.get("lastTransitionTime") if condition.get("status") == value else now_iso
        result.append(_condition(type_, value, reason, message, transition or now_iso, generation))
    if not found:
        result.append(_condition(type_, value, reason, message, now_iso, generation))
    return result


def _condition(type_: str, value: str, reason: str, message: str, transition: str, generation: Optional[int]) -> dict[str, Any]:
    condition = {"type": type_, "status": value, "reason": reason, "message": message, "lastTransitionTime": transition}
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def get_condition(conditions: Optional[list[dict[str, Any]]], type_: str) -> Optional[dict[str, Any]]:
    return next((c for c in conditions or [] if c.get("type") == type_), None)


def ready(conditions: list[dict[str, Any]], reason: str, message: str, now_iso: str, generation: Optional[int]) -> list[dict[str, Any]]:
    """Ready, not reconciling, not stalled."""
    conditions = set_condition(conditions, "Ready", True, reason, message, now_iso, generation)
    conditions = set_condition(conditions, "Reconciling", False, reason, "", now_iso, generation)
    return set_condition(conditions, "Stalled", False, reason, "", now_iso, generation)


def stalled(conditions: list[dict[str, Any]], reason: str, message: str, now_iso: str, generation: Optional[int]) -> list[dict[str, Any]]:
    """Not ready and stalled: a person must act (the message says how)."""
    conditions = set_condition(conditions, "Ready", False, reason, message, now_iso, generation)
    conditions = set_condition(conditions, "Reconciling", False, reason, "", now_iso, generation)
    return set_condition(conditions, "Stalled", True, reason, message, now_iso, generation)


def reconciling(conditions: list[dict[str, Any]], reason: str, message: str, now_iso: str, generation: Optional[int]) -> list[dict[str, Any]]:
    """Work in progress (rules applied, first evaluation pending)."""
    conditions = set_condition(conditions, "Ready", False, reason, message, now_iso, generation)
    conditions = set_condition(conditions, "Reconciling", True, reason, message, now_iso, generation)
    return set_condition(conditions, "Stalled", False, reason, "", now_iso, generation)
