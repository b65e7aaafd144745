"""Every record name the project writes, and how a series name read back from Prometheus maps to what it means.

The rule generators (``native``, ``sloth``, ``kpi``) write these names and the evaluation reads some of them back
to fill ``status``; both sides take the names from here, so a record renamed on one side cannot silently stop
being read on the other. Windowed names are templates with a ``{window}`` field, spelled as Prometheus spells
durations (``slo:error_ratio:rate5m``, ``slo:sli_error:ratio_rate4w``).

:func:`classify` answers "which record is this, over which window" for a series name. Its kinds say what the
value means, not which schema wrote it: Sloth's ``slo:sli_error:ratio_rate<W>`` and the native
``slo:error_ratio:rate<W>`` are both an :attr:`RecordKind.ERROR_RATIO`, so a reader handles both schemas alike.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Optional


class RecordKind(enum.Enum):
    """What a recorded series holds, whichever schema wrote it."""

    ERROR_EVENTS = "error_events"
    TOTAL_EVENTS = "total_events"
    ERROR_RATIO = "error_ratio"
    OBJECTIVE = "objective"
    ERROR_BUDGET = "error_budget"
    BUDGET_REMAINING = "budget_remaining"
    SLO_INFO = "slo_info"
    PERIOD_DAYS = "period_days"
    CURRENT_BURN_RATE = "current_burn_rate"
    PERIOD_BURN_RATE = "period_burn_rate"
    KPI_VALUE = "kpi_value"
    KPI_INFO = "kpi_info"


# The native schema (docs/rule-schema-native.md).
ERROR_EVENTS = "slo:error_events:rate{window}"
TOTAL_EVENTS = "slo:total_events:rate{window}"
ERROR_RATIO = "slo:error_ratio:rate{window}"
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
SLO_INFO = "kpi_operator_slo_info"

# Sloth v0.16's schema; its objective and error budget records share the native names above.
SLOTH_SLI_ERROR = "slo:sli_error:ratio_rate{window}"
SLOTH_PERIOD_DAYS = "slo:time_period:days"
SLOTH_CURRENT_BURN_RATE = "slo:current_burn_rate:ratio"
SLOTH_PERIOD_BURN_RATE = "slo:period_burn_rate:ratio"
SLOTH_BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
SLOTH_INFO = "sloth_slo_info"

# KPIs.
KPI_VALUE = "kpi:value"
KPI_INFO = "kpi_operator_kpi_info"

_WINDOWED: dict[str, RecordKind] = {
    ERROR_EVENTS: RecordKind.ERROR_EVENTS,
    TOTAL_EVENTS: RecordKind.TOTAL_EVENTS,
    ERROR_RATIO: RecordKind.ERROR_RATIO,
    SLOTH_SLI_ERROR: RecordKind.ERROR_RATIO,
}

_FIXED: dict[str, RecordKind] = {
    OBJECTIVE: RecordKind.OBJECTIVE,
    ERROR_BUDGET: RecordKind.ERROR_BUDGET,
    BUDGET_REMAINING: RecordKind.BUDGET_REMAINING,
    SLO_INFO: RecordKind.SLO_INFO,
    SLOTH_PERIOD_DAYS: RecordKind.PERIOD_DAYS,
    SLOTH_CURRENT_BURN_RATE: RecordKind.CURRENT_BURN_RATE,
    SLOTH_PERIOD_BURN_RATE: RecordKind.PERIOD_BURN_RATE,
    SLOTH_BUDGET_REMAINING: RecordKind.BUDGET_REMAINING,
    SLOTH_INFO: RecordKind.SLO_INFO,
    KPI_VALUE: RecordKind.KPI_VALUE,
    KPI_INFO: RecordKind.KPI_INFO,
}


def _prefix(template: str) -> str:
    return template.split("{window}", 1)[0]


_WINDOWED_BY_PREFIX: dict[str, RecordKind] = {_prefix(template): kind for template, kind in _WINDOWED.items()}

# A window is a Prometheus duration (``5m``, ``1h30m``, ``4w``): a name that merely starts like a record of ours
# (``slo:error_ratio:rate5m_old``) is not one.
_WINDOWED_NAME = re.compile(
    "(?P<prefix>" + "|".join(re.escape(prefix) for prefix in _WINDOWED_BY_PREFIX) + ")"
    r"(?P<window>(?:[0-9]+(?:ms|y|w|d|h|m|s))+)"
)

#: The kinds the evaluation reads back each cycle to fill ``status``.
READ_BACK_KINDS: frozenset[RecordKind] = frozenset(
    {RecordKind.ERROR_RATIO, RecordKind.TOTAL_EVENTS, RecordKind.BUDGET_REMAINING, RecordKind.KPI_VALUE, RecordKind.OBJECTIVE, RecordKind.KPI_INFO}
)
"""Read back each cycle. ``OBJECTIVE`` and ``KPI_INFO`` are constants (``vector(...)``), present whenever
Prometheus evaluates the object's rules whatever the traffic: they tell "no data" (the rules run, the service
sent nothing) from "rules not loaded" (a new object, a rule file Prometheus refused)."""

#: The names of the read-back records as one regular expression (Prometheus anchors ``=~`` at both ends).
READ_BACK_PATTERN = "|".join(
    [
        ERROR_RATIO.format(window=".+"),
        TOTAL_EVENTS.format(window=".+"),
        BUDGET_REMAINING,
        KPI_VALUE,
        SLOTH_SLI_ERROR.format(window=".+"),
        SLOTH_BUDGET_REMAINING,
        OBJECTIVE,
        KPI_INFO,
    ]
)

#: A PromQL selector for every read-back series of every object: one query, whatever the number of objects.
READ_BACK_SELECTOR = f'{{__name__=~"{READ_BACK_PATTERN}"}}'


def classify(name: str) -> Optional[tuple[RecordKind, Optional[str]]]:
    """``(kind, window)`` of a series name this project writes, ``window`` None for unwindowed records; None for
    any other name."""
    kind = _FIXED.get(name)
    if kind is not None:
        return kind, None
    match = _WINDOWED_NAME.fullmatch(name)
    if match is None:
        return None
    return _WINDOWED_BY_PREFIX[match.group("prefix")], match.group("window")


@dataclass(frozen=True)
class NativeWindowRecords:
    """The native schema's records over one window."""

    error_events: str
    total_events: str
    error_ratio: str


def native_window_records(window: str) -> NativeWindowRecords:
    """The native records over ``window`` (already spelled as Prometheus spells it)."""
    return NativeWindowRecords(
        error_events=ERROR_EVENTS.format(window=window),
        total_events=TOTAL_EVENTS.format(window=window),
        error_ratio=ERROR_RATIO.format(window=window),
    )


def sloth_sli_error(window: str) -> str:
    """Sloth's error-ratio record over ``window`` (already spelled as Prometheus spells it)."""
    return SLOTH_SLI_ERROR.format(window=window)
