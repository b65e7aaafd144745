"""When a KPI's value is on the bad side of a bound: the one comparison its alerts, status and gate share.

A KPI states the healthy comparison (``value >= target``); a threshold is breached by the strict opposite
(``value < bound``), so a value exactly at a ``>=`` target is healthy everywhere: in the generated alert
expression, in ``status.state`` and in the gate's verdict.
"""

from __future__ import annotations

import operator
from typing import Callable

#: The comparison that means "breached" for each healthy op, as written into the alert expressions.
BREACH_OP: dict[str, str] = {">=": "<", ">": "<=", "<=": ">", "<": ">="}

_COMPARE: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def breached(op: str, value: float, bound: float) -> bool:
    """Whether ``value`` is on the bad side of ``bound`` for a KPI whose healthy comparison is ``op``."""
    return _COMPARE[BREACH_OP[op]](value, bound)
