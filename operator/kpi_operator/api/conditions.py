"""kstatus-style conditions (``Ready``, ``Reconciling``, ``Stalled``), so Flux health checks and ``kubectl wait``
work on KPIs and SLOs.

``lastTransitionTime`` changes only when a condition's status flips; a new reason or message alone keeps it.
"""

from __future__ import annotations

from typing import Optional, Sequence

from .status import Condition


def set_condition(
    conditions: Optional[Sequence[Condition]],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    now_iso: str,
    generation: Optional[int] = None,
) -> list[Condition]:
    """A new list with one condition set (added or replaced), the others kept in their order."""
    value = "True" if status else "False"
    result = []
    found = False
    for condition in conditions or []:
        if condition.type != type_:
            result.append(condition.model_copy())
            continue
        found = True
        transition = condition.last_transition_time if condition.status == value else now_iso
        result.append(_condition(type_, value, reason, message, transition or now_iso, generation))
    if not found:
        result.append(_condition(type_, value, reason, message, now_iso, generation))
    return result


def _condition(type_: str, value: str, reason: str, message: str, transition: str, generation: Optional[int]) -> Condition:
    fields = {"type": type_, "status": value, "reason": reason, "message": message, "last_transition_time": transition}
    if generation is not None:
        fields["observed_generation"] = generation
    return Condition(**fields)


def get_condition(conditions: Optional[Sequence[Condition]], type_: str) -> Optional[Condition]:
    return next((c for c in conditions or [] if c.type == type_), None)


def ready(conditions: Sequence[Condition], reason: str, message: str, now_iso: str, generation: Optional[int]) -> list[Condition]:
    """Ready, not reconciling, not stalled."""
    result = set_condition(conditions, "Ready", True, reason, message, now_iso, generation)
    result = set_condition(result, "Reconciling", False, reason, "", now_iso, generation)
    return set_condition(result, "Stalled", False, reason, "", now_iso, generation)


def stalled(conditions: Sequence[Condition], reason: str, message: str, now_iso: str, generation: Optional[int]) -> list[Condition]:
    """Not ready and stalled: a person must act (the message says how)."""
    result = set_condition(conditions, "Ready", False, reason, message, now_iso, generation)
    result = set_condition(result, "Reconciling", False, reason, "", now_iso, generation)
    return set_condition(result, "Stalled", True, reason, message, now_iso, generation)


def reconciling(conditions: Sequence[Condition], reason: str, message: str, now_iso: str, generation: Optional[int]) -> list[Condition]:
    """Work in progress (rules applied, first evaluation pending, or a write the API refused for now)."""
    result = set_condition(conditions, "Ready", False, reason, message, now_iso, generation)
    result = set_condition(result, "Reconciling", True, reason, message, now_iso, generation)
    return set_condition(result, "Stalled", False, reason, "", now_iso, generation)
