"""The gate's inputs from the evaluation cycle's readings, so the operator's gate judges exactly the numbers the
status shows, with no query of its own.

Grouped SLOs give several series per window: the gate takes the worst group's error ratio (``max``) and the
fewest events of any group (``min``), so ``minEvents`` holds until every group has enough traffic.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

from ..api.durations import parse_duration_seconds
from .verdict import KPIReading, Sample, SLOReading


def slo_reading(
    error_ratios: Mapping[str, Sequence[float]],
    total_rates: Mapping[str, Sequence[float]],
    windows: Iterable[str],
    query: str,
    rules_evaluated: bool = True,
) -> SLOReading:
    """Error ratios and event counts per window from the recorded rates; a window without a series is ``None``."""
    ratios: dict[str, Optional[float]] = {w: (max(v) if v else None) for w, v in error_ratios.items()}
    events = {w: (min(v) * parse_duration_seconds(w) if v else None) for w, v in total_rates.items()}
    for window in windows:
        ratios.setdefault(window, None)
    return SLOReading(error_ratios=ratios, events=events, query=query, rules_evaluated=rules_evaluated)


def kpi_reading(history: Sequence[Sample], query: str, rules_evaluated: bool = True) -> KPIReading:
    """The KPI's values the evaluation cycles read, oldest first, as the samples its ``for`` is judged on."""
    return KPIReading(samples=list(history), query=query, rules_evaluated=rules_evaluated)
