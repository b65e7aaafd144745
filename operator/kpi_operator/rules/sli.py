"""The SLI as PromQL for any window: error events, total events, and the error ratio.

Every indicator kind reduces to these queries, so the rule schemas (native, sloth) never look at the indicator's
kind again. A classic-histogram latency SLI matches the ``le`` bucket by both spellings a client may export
(``1`` from Go, ``1.0`` from Python; Prometheus 3 also rewrites ``1`` to ``1.0``), so the threshold works
whatever the exporter's language.
"""

from __future__ import annotations

from typing import Optional

from ..api.models import SLO
from ..api.promql import format_float, merge_selectors, render_window


def _le_matcher(threshold: float) -> str:
    spellings = {format_float(threshold), repr(float(threshold))}
    pattern = "|".join(sorted(spelling.replace(".", "\\\\.") for spelling in spellings))
    return f'le=~"{pattern}"'


def _by(slo: SLO) -> str:
    grouping = slo.spec.indicator.grouping
    return f" by ({', '.join(grouping)})" if grouping else ""


def _metric_parts(metric: str) -> tuple[str, str]:
    if "{" in metric:
        name, rest = metric.split("{", 1)
        return name.strip(), "{" + rest
    return metric.strip(), "{}"


def error_query(slo: SLO, window: str) -> Optional[str]:
    """Rate of bad events over ``window``, or None for a raw (ratio-only) indicator."""
    indicator = slo.spec.indicator
    by = _by(slo)
    if indicator.ratio is not None:
        if indicator.ratio.selector_form:
            name, sel = _metric_parts(indicator.ratio.errors_metric or "")
            return f"sum{by} (rate({name}{merge_selectors(sel)}[{window}]))"
        return render_window(indicator.ratio.errors or "", window).strip()
    if indicator.latency is not None:
        latency = indicator.latency
        if latency.native:
            total = f"sum{by} (rate({latency.histogram}{merge_selectors(latency.selector)}[{window}]))"
            return f"histogram_count({total}) * (1 - histogram_fraction(0, {format_float(latency.threshold)}, {total}))"
        count = f"sum{by} (rate({latency.histogram}_count{merge_selectors(latency.selector)}[{window}]))"
        bucket_sel = merge_selectors(latency.selector, "{" + _le_matcher(latency.threshold) + "}")
        good = f"sum{by} (rate({latency.histogram}_bucket{bucket_sel}[{window}]))"
        return f"{count}\n-\n{good}"
    return None


def total_query(slo: SLO, window: str) -> Optional[str]:
    """Rate of all events over ``window``, or None for a raw indicator."""
    indicator = slo.spec.indicator
    by = _by(slo)
    if indicator.ratio is not None:
        if indicator.ratio.selector_form:
            name, sel = _metric_parts(indicator.ratio.total_metric or "")
            return f"sum{by} (rate({name}{merge_selectors(sel)}[{window}]))"
        return render_window(indicator.ratio.total or "", window).strip()
    if indicator.latency is not None:
        latency = indicator.latency
        if latency.native:
            return f"histogram_count(sum{by} (rate({latency.histogram}{merge_selectors(latency.selector)}[{window}])))"
        return f"sum{by} (rate({latency.histogram}_count{merge_selectors(latency.selector)}[{window}]))"
    return None


def raw_ratio_query(slo: SLO, window: str) -> Optional[str]:
    """The raw indicator's error-ratio query over ``window`` (None for other kinds)."""
    raw = slo.spec.indicator.raw
    return render_window(raw.error_ratio, window) if raw is not None else None


def has_events(slo: SLO) -> bool:
    """Whether the SLI counts events (ratio, latency) rather than giving only a ratio (raw)."""
    return slo.spec.indicator.raw is None
