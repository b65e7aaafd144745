"""Samples in, statuses out: map the cycle's series back to objects and compute each object's evaluation.

Pure: the adapter hands in plain samples (labels, value, timestamp) and the current time; nothing here talks to
Prometheus. Series are matched to objects by the identity labels the rules wrote: ``slo_namespace`` /
``slo_name`` (native), ``sloth_service`` / ``sloth_slo`` (sloth schema, which has no namespace: an SLO in the
sloth schema should have a service/name pair unique in the cluster), ``kpi_namespace`` / ``kpi_name``.

A grouped SLO (one SLO per route) reports its worst group: the highest error ratio and burn rate, the lowest
remaining budget.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Union

from ..api.durations import format_duration_ms, parse_duration_ms
from ..api.models import KPI, SLO
from ..rules import kpi as kpi_rules
from ..rules import native
from ..rules.windows import period_window, recorded_windows
from .queries import SERIES_LABEL

Key = tuple[str, str, str]  # (kind, namespace, name)

_NATIVE_RATIO = re.compile(r"^slo:error_ratio:rate(.+)$")
_NATIVE_TOTAL = re.compile(r"^slo:total_events:rate(.+)$")
_SLOTH_RATIO = re.compile(r"^slo:sli_error:ratio_rate(.+)$")


@dataclass(frozen=True)
class Sample:
    """One series' latest value, as Prometheus' instant query returned it."""

    labels: dict[str, str]
    value: float
    timestamp: Optional[float] = None


@dataclass
class ObjectSeries:
    """The series of one object, by window."""

    error_ratios: dict[str, list[float]] = field(default_factory=dict)
    total_rates: dict[str, list[float]] = field(default_factory=dict)
    budget_remaining: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    firing: set[str] = field(default_factory=set)


def key_of(obj: Union[SLO, KPI]) -> Key:
    return (obj.kind, obj.metadata.namespace, obj.metadata.name)


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def _series_key(labels: dict[str, str], sloth_index: dict[tuple[str, str], list[Key]]) -> list[Key]:
    if "slo_namespace" in labels and "slo_name" in labels:
        return [("SLO", labels["slo_namespace"], labels["slo_name"])]
    if "kpi_namespace" in labels and "kpi_name" in labels:
        return [("KPI", labels["kpi_namespace"], labels["kpi_name"])]
    if "sloth_service" in labels and "sloth_slo" in labels:
        return sloth_index.get((labels["sloth_service"], labels["sloth_slo"]), [])
    return []


def collect(
    objects: Iterable[Union[SLO, KPI]],
    values: Iterable[Sample],
    timestamps: Iterable[Sample],
    alerts: Iterable[Sample],
    now: float,
    freshness_seconds: float,
) -> dict[Key, ObjectSeries]:
    """Group the cycle's samples by object; samples older than ``now - freshness_seconds`` are dropped."""
    objects = list(objects)
    sloth_index: dict[tuple[str, str], list[Key]] = {}
    for obj in objects:
        if isinstance(obj, SLO):
            sloth_index.setdefault((obj.spec.service, obj.metadata.name), []).append(key_of(obj))
    known = {key_of(obj) for obj in objects}
    stale: set[tuple[tuple[str, str], ...]] = set()
    for sample in timestamps:
        if now - sample.value > freshness_seconds:
            labels = dict(sample.labels)
            labels["__name__"] = labels.pop(SERIES_LABEL, "")
            stale.add(tuple(sorted(labels.items())))
    result: dict[Key, ObjectSeries] = {key: ObjectSeries() for key in known}
    for sample in values:
        if tuple(sorted(sample.labels.items())) in stale:
            continue
        name = sample.labels.get("__name__", "")
        for key in _series_key(sample.labels, sloth_index):
            if key not in result:
                continue
            series = result[key]
            ratio = _NATIVE_RATIO.match(name) or _SLOTH_RATIO.match(name)
            total = _NATIVE_TOTAL.match(name)
            if ratio:
                series.error_ratios.setdefault(ratio.group(1), []).append(sample.value)
            elif total:
                series.total_rates.setdefault(total.group(1), []).append(sample.value)
            elif name in (native.BUDGET_REMAINING, "slo:period_error_budget_remaining:ratio"):
                series.budget_remaining.append(sample.value)
            elif name == kpi_rules.VALUE:
                series.values.append(sample.value)
    for sample in alerts:
        labels = sample.labels
        tier = labels.get("slo_tier") or labels.get("sloth_severity")
        if labels.get("alertname", "").endswith("NoData"):
            tier = "noData"
        elif tier is None and "kpi_name" in labels:
            tier = labels.get("severity", "critical")
        if tier is None:
            continue
        for key in _series_key(labels, sloth_index):
            if key in result:
                result[key].firing.add(tier)
    return result


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


def evaluate_slo(slo: SLO, series: ObjectSeries) -> dict[str, Any]:
    """``sli`` (percent good over the period), ``errorBudget``, ``burnRates``, ``exhaustionEstimate``, ``alerts``,
    ``state`` for one SLO from its series."""
    budget = (100 - slo.spec.objective) / 100
    period = period_window(slo)
    windows = recorded_windows(slo) + ([period] if period not in recorded_windows(slo) else [])
    ratios = {w: _worst_high(series.error_ratios.get(w, [])) for w in windows}
    burn_rates = {w: _round(r / budget) for w, r in ratios.items() if r is not None}
    period_ratio = ratios.get(period)
    remaining = _worst_low(series.budget_remaining)
    if remaining is None and period_ratio is not None:
        remaining = 1 - period_ratio / budget
    alerts = sorted(series.firing)
    result: dict[str, Any] = {
        "sli": round(100 * (1 - period_ratio), 4) if period_ratio is not None else None,
        "errorBudget": {"total": _round(budget), "remaining": _round(remaining)},
        "burnRates": burn_rates,
        "exhaustionEstimate": _exhaustion(slo, remaining, ratios, budget),
        "alerts": alerts,
    }
    if not burn_rates:
        result["state"] = "NoData"
    elif "page" in alerts or (remaining is not None and remaining <= 0):
        result["state"] = "Critical"
    elif "ticket" in alerts or "noData" in alerts:
        result["state"] = "Warning"
    else:
        result["state"] = "Healthy"
    return result


def _exhaustion(slo: SLO, remaining: Optional[float], ratios: dict[str, Optional[float]], budget: float) -> Optional[str]:
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
    seconds = remaining * parse_duration_ms(slo.spec.window) / 1000.0 / burn
    # Coarse on purpose: hours beyond a day, minutes beyond an hour; finer would change every cycle.
    unit = 3600 if seconds >= 86400 else 60 if seconds >= 3600 else 1
    return format_duration_ms(max(round(seconds / unit), 1) * unit * 1000)


def evaluate_kpi(kpi: KPI, series: ObjectSeries) -> dict[str, Any]:
    """``value``, ``target`` and ``state`` for one KPI.

    State: Critical beyond the critical threshold (or the target, with no thresholds); Warning beyond the
    warning threshold or the target; Healthy otherwise; NoData without a sample.
    """
    values = [v for v in series.values if _finite(v)]
    target = kpi.spec.target.value
    if not values:
        return {"value": None, "target": target, "state": "NoData", "alerts": sorted(series.firing)}
    higher_is_better = kpi.spec.target.op in (">=", ">")
    value = min(values) if higher_is_better else max(values)
    return {"value": _round(value), "target": target, "state": kpi_state(kpi, value), "alerts": sorted(series.firing)}


def breached(op: str, value: float, bound: float) -> bool:
    """Whether ``value`` is on the bad side of ``bound`` for a KPI whose healthy comparison is ``op``."""
    comparison = kpi_rules.BREACH_OP[op]
    return {
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
    }[comparison]


def kpi_state(kpi: KPI, value: float) -> str:
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


def evaluate(obj: Union[SLO, KPI], series: ObjectSeries) -> dict[str, Any]:
    return evaluate_slo(obj, series) if isinstance(obj, SLO) else evaluate_kpi(obj, series)


def unknown(reason: str) -> dict[str, Any]:
    """The evaluation when Prometheus could not be asked: values kept, state Unknown, the reason given."""
    return {"state": "Unknown", "reason": reason}


EVALUATION_FIELDS = ("sli", "errorBudget", "burnRates", "exhaustionEstimate", "alerts", "state", "value", "target")


# How far a number may move before the status is rewritten: live ratios jitter from scrape to scrape, and a
# rewrite per object per cycle is an API call and a watch event for every watcher. The heartbeat of the loop
# still refreshes every status every few cycles.
TOLERANCE: dict[str, tuple[float, float]] = {  # field: (relative, absolute)
    "sli": (0.0, 0.001),  # percentage points
    "errorBudget": (0.0, 0.001),
    "burnRates": (0.05, 0.01),
    "value": (0.01, 1e-9),
}


def _close(a: Any, b: Any, relative: float, absolute: float) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], relative, absolute) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(a - b) <= max(absolute, relative * max(abs(a), abs(b)))
    return a == b


def changed(current_status: Optional[dict[str, Any]], evaluation: dict[str, Any]) -> bool:
    """Whether writing ``evaluation`` would change what the status says (beyond jitter, see ``TOLERANCE``)."""
    current = current_status or {}
    for name in EVALUATION_FIELDS:
        if name not in evaluation:
            continue
        relative, absolute = TOLERANCE.get(name, (0.0, 0.0))
        if not _close(current.get(name), evaluation.get(name), relative, absolute):
            return True
    return False
