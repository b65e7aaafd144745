"""Multiwindow, multi-burn-rate alert windows (Google SRE workbook, "Alerting on SLOs").

A window pair alerts when both its short and its long window burn the error budget faster than
``factor = budget_share x period / long_window``: at that rate the pair's share of the whole period's budget is
gone within the long window. The factor is computed for any period, so 28d SLOs get 13.44 / 5.6 / 2.8 / 0.933...
instead of the 30d constants copied into many dashboards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..api.durations import format_duration_ms, parse_duration_ms
from ..api.models import PAGE_WINDOWS, SLO, TICKET_WINDOWS, AlertTier, BurnWindow

Tier = Literal["page", "ticket"]


def burn_rate_factor(budget_percent: float, period: str, long_window: str) -> float:
    """How many times faster than "exactly on budget" the long window must burn to spend ``budget_percent``.

    Written as (percent / 100) x (period / window), the order Sloth uses, so the floats are identical to its
    output (``0.1 * 28`` is ``2.8000000000000003`` in both).
    """
    return (budget_percent / 100) * (parse_duration_ms(period) / parse_duration_ms(long_window))


@dataclass(frozen=True)
class WindowPair:
    """One resolved window pair of a tier, with its factor for the SLO's period."""

    tier: Tier
    long: str
    short: str
    budget_percent: float
    factor: float

    @property
    def long_seconds(self) -> float:
        return parse_duration_ms(self.long) / 1000.0


def _tier_pairs(tier: Tier, settings: AlertTier, defaults: tuple[BurnWindow, ...], period: str) -> list[WindowPair]:
    windows = settings.windows if settings.windows else list(defaults)
    return [
        WindowPair(
            tier=tier,
            long=format_duration_ms(parse_duration_ms(w.long)),
            short=format_duration_ms(parse_duration_ms(w.short)),
            budget_percent=w.budget_percent,
            factor=burn_rate_factor(w.budget_percent, period, w.long),
        )
        for w in windows
    ]


def window_pairs(slo: SLO, include_disabled: bool = True) -> dict[Tier, list[WindowPair]]:
    """The page and ticket window pairs of an SLO (defaults unless overridden).

    ``include_disabled`` keeps the pairs of a disabled tier: their windows are still recorded (Sloth does the
    same), so dashboards and the status' burn rates do not depend on which alerts are on.
    """
    alerting = slo.spec.alerting
    period = slo.spec.window
    result: dict[Tier, list[WindowPair]] = {}
    for tier, settings, defaults in (
        ("page", alerting.page_alert, PAGE_WINDOWS),
        ("ticket", alerting.ticket_alert, TICKET_WINDOWS),
    ):
        if settings.disabled and not include_disabled:
            continue
        result[tier] = _tier_pairs(tier, settings, defaults, period)
    return result


def recorded_windows(slo: SLO) -> list[str]:
    """Every short and long window of every tier, shortest first, each once (the SLI records to write)."""
    spans = set()
    for pairs in window_pairs(slo).values():
        for pair in pairs:
            spans.add(parse_duration_ms(pair.short))
            spans.add(parse_duration_ms(pair.long))
    return [format_duration_ms(ms) for ms in sorted(spans)]


def period_window(slo: SLO) -> str:
    """The SLO's period, spelled as Prometheus does (``28d`` -> ``4w``)."""
    return format_duration_ms(parse_duration_ms(slo.spec.window))
