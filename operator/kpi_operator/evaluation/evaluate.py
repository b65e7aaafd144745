"""Series in, status out: one object's evaluation from the series ``collect`` grouped for it. Pure.

A grouped SLO (one SLO per route) reports its worst group: the highest error ratio and burn rate, the lowest
remaining budget.
"""

from __future__ import annotations

import math
from typing import Optional, Union

from ..api.comparison import breached
from ..api.durations import format_duration_ms
from ..api.models import KPI, SLO
from ..api.status import AnyStatus, ErrorBudget, KPIStatus, SLOStatus, State
from ..rules.compiled import CompiledSLO, compile_slo
from .collect import ObjectSeries


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def _worst_high(values: list[float]) -> Optional[float]:
    finite = [v for v in values if _finite(v)]
    return max(finite) if finite else None


def _worst_low(values: list[float]) -> Optional[float]:
    finite = [v for v in values if _finite(v)]
    return min(finite) if finite else None


def _round(value: Optional[float], digits: int = 4) -> Optional[float]:
    """Rounded to significant digits: a status is re-written when what a person reads changes, not for noise in
    the fifth digit of a live ratio (each write is an API call and a watch event for every watcher)."""
    if value is None or value == 0:
        return value
    return float(f"{value:.{digits}g}")


def evaluate_slo(slo: SLO, series: ObjectSeries) -> SLOStatus:
    """``sli`` (percent good over the period), ``errorBudget``, ``burnRates``, ``exhaustionEstimate``, ``alerts``,
    ``state`` for one SLO from its series."""
    compiled = compile_slo(slo)
    budget = compiled.error_budget
    period = compiled.period
    windows = compiled.windows_with_period
    ratios = {w: _worst_high(series.error_ratios.get(w, [])) for w in windows}
    burn_rates = {w: _round(r / budget) for w, r in ratios.items() if r is not None}
    period_ratio = ratios.get(period)
    remaining = _worst_low(series.budget_remaining)
    if remaining is None and period_ratio is not None:
        remaining = 1 - period_ratio / budget
    alerts = sorted(series.firing)
    result = SLOStatus(
        sli=round(100 * (1 - period_ratio), 4) if period_ratio is not None else None,
        error_budget=ErrorBudget(total=_round(budget), remaining=_round(remaining)),
        burn_rates=burn_rates,
        exhaustion_estimate=_exhaustion(compiled, remaining, ratios, budget),
        alerts=alerts,
    )
    if not burn_rates:
        result.state = "NoData"
    elif "page" in alerts or (remaining is not None and remaining <= 0):
        result.state = "Critical"
    elif "ticket" in alerts or "noData" in alerts:
        result.state = "Warning"
    else:
        result.state = "Healthy"
    return result


def _exhaustion(compiled: CompiledSLO, remaining: Optional[float], ratios: dict[str, Optional[float]], budget: float) -> Optional[str]:
    """Time until the budget is gone at the current (1h, or shortest-long-window) burn; None when not burning.

    At burn rate b the whole period's budget lasts period / b; what is left lasts remaining x period / b.
    """
    if remaining is None:
        return None
    if remaining <= 0:
        return "0s"
    window = "1h" if ratios.get("1h") is not None else next((w for w in ratios if ratios[w] is not None), None)
    if window is None:
        return None
    ratio = ratios[window] or 0.0
    if ratio <= 0:
        return None
    burn = ratio / budget
    seconds = remaining * compiled.period_seconds / burn
    # Coarse on purpose: hours beyond a day, minutes beyond an hour; finer would change every cycle.
    unit = 3600 if seconds >= 86400 else 60 if seconds >= 3600 else 1
    return format_duration_ms(max(round(seconds / unit), 1) * unit * 1000)


def evaluate_kpi(kpi: KPI, series: ObjectSeries) -> KPIStatus:
    """``value``, ``target`` and ``state`` for one KPI.

    State: Critical beyond the critical threshold (or the target, with no thresholds); Warning beyond the
    warning threshold or the target; Healthy otherwise; NoData without a sample.
    """
    values = [v for v in series.values if _finite(v)]
    target = kpi.spec.target.value
    if not values:
        return KPIStatus(value=None, target=target, state="NoData", alerts=sorted(series.firing))
    higher_is_better = kpi.spec.target.op in (">=", ">")
    value = min(values) if higher_is_better else max(values)
    return KPIStatus(value=_round(value), target=target, state=kpi_state(kpi, value), alerts=sorted(series.firing))


def kpi_state(kpi: KPI, value: float) -> State:
    op = kpi.spec.target.op
    thresholds = kpi.spec.thresholds
    critical = thresholds.critical if thresholds and thresholds.critical is not None else None
    warning = thresholds.warning if thresholds and thresholds.warning is not None else None
    if critical is None and warning is None:
        critical = kpi.spec.target.value
    if critical is not None and breached(op, value, critical):
        return "Critical"
    if (warning is not None and breached(op, value, warning)) or breached(op, value, kpi.spec.target.value):
        return "Warning"
    return "Healthy"


def evaluate(obj: Union[SLO, KPI], series: ObjectSeries) -> AnyStatus:
    """The evaluation fields of the object's status (only those; ``to_patch`` gives them as written).

    An object whose rules Prometheus fails to evaluate (``series.rule_problem``) is ``Unknown``: what its rules
    did not record is not a silent service, and the condition says why."""
    result = evaluate_slo(obj, series) if isinstance(obj, SLO) else evaluate_kpi(obj, series)
    if series.rule_problem is not None:
        result.state = "Unknown"
    return result
