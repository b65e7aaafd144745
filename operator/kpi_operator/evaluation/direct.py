"""Queries that evaluate an object straight from its own PromQL, without the operator's recording rules.

``kpi-operator gate`` in a CI/CD pipeline cannot assume the rules are loaded (the SLO may be new, or the
Prometheus may not be the one the operator writes to), so it asks for the page-tier windows' error ratios and
event counts directly.
"""

from __future__ import annotations

from ..api.models import KPI, SLO
from ..api.durations import parse_duration_seconds
from ..api.promql import format_float, render_window
from ..rules import sli
from ..rules.compiled import compile_slo


def page_windows(slo: SLO) -> list[str]:
    """Every short and long window of the page tier (the tier the gate judges)."""
    windows: list[str] = []
    for pair in compile_slo(slo).pairs("page"):
        for window in (pair.short, pair.long):
            if window not in windows:
                windows.append(window)
    return windows


def error_ratio_query(slo: SLO, window: str) -> str:
    """The SLO's error ratio over ``window``, worst group first when grouped (``max``)."""
    if sli.has_events(slo):
        errors = sli.error_query(slo, window)
        total = sli.total_query(slo, window)
        ratio = f"(({errors}) or 0 * ({total}))\n/\n({total})"
    else:
        ratio = str(sli.raw_ratio_query(slo, window))
    return f"max({ratio})"


def events_query(slo: SLO, window: str) -> str | None:
    """Events in ``window`` (rate x seconds), fewest group first; None for a raw indicator."""
    total = sli.total_query(slo, window)
    if total is None:
        return None
    return f"min({total}) * {format_float(parse_duration_seconds(window))}"


def kpi_value_query(kpi: KPI) -> str:
    return render_window(kpi.spec.query, kpi.spec.window).strip()
