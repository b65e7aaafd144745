"""An SLO's alert windows, read from its compiled form (:mod:`.compiled`, where the burn-rate math lives).

These readers keep the names that callers outside rule generation still import; new code reads
:func:`~.compiled.compile_slo` directly.
"""

from __future__ import annotations

from ..api.models import SLO
from .compiled import Tier, WindowPair, burn_rate_factor, compile_slo

__all__ = ["Tier", "WindowPair", "burn_rate_factor", "period_window", "recorded_windows", "window_pairs"]


def window_pairs(slo: SLO, include_disabled: bool = True) -> dict[Tier, list[WindowPair]]:
    """The page and ticket window pairs of an SLO (defaults unless overridden).

    ``include_disabled`` keeps the pairs of a disabled tier: their windows are still recorded (Sloth does the
    same), so dashboards and the status' burn rates do not depend on which alerts are on.
    """
    return {
        tier.tier: list(tier.pairs)
        for tier in compile_slo(slo).tiers
        if include_disabled or not tier.disabled
    }


def recorded_windows(slo: SLO) -> list[str]:
    """Every short and long window of every tier, shortest first, each once (the SLI records to write)."""
    return list(compile_slo(slo).recorded_windows)


def period_window(slo: SLO) -> str:
    """The SLO's period, spelled as Prometheus does (``28d`` -> ``4w``)."""
    return compile_slo(slo).period
