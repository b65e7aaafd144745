"""An SLO or KPI compiled once into what rule generation and evaluation need: windows, seconds, record names.

Without it every consumer derived the same values from the spec again: the windows of each tier, the recorded
windows, the period's spelling, the seconds of each window, each a fresh parse of the same duration strings, many
times per SLO per evaluation cycle. :func:`compile_slo` does that work once per parsed model and hands back a
frozen :class:`CompiledSLO`; a second call for the same model returns the same object.

The burn-rate math is the Google SRE workbook's ("Alerting on SLOs"): a window pair alerts when both its short and
its long window burn the error budget faster than ``factor = budget_share x period / long_window``: at that rate
the pair's share of the whole period's budget is gone within the long window. The factor is computed for any
period, so 28d SLOs get 13.44 / 5.6 / 2.8 / 0.933... instead of the 30d constants copied into many dashboards.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Generic, Literal, Mapping, Optional, TypeVar

from ..api.durations import format_duration_ms, parse_duration_ms
from ..api.models import KPI, PAGE_WINDOWS, SLO, TICKET_WINDOWS, AlertTier, BurnWindow
from .records import NativeWindowRecords, native_window_records, sloth_sli_error

Tier = Literal["page", "ticket"]

_DAY_MS = 24 * 3600 * 1000


def burn_rate_factor(budget_percent: float, period: str, long_window: str) -> float:
    """How many times faster than "exactly on budget" the long window must burn to spend ``budget_percent``.

    Written as (percent / 100) x (period / window), the order Sloth uses, so the floats are identical to its
    output (``0.1 * 28`` is ``2.8000000000000003`` in both).
    """
    return (budget_percent / 100) * (parse_duration_ms(period) / parse_duration_ms(long_window))


@dataclass(frozen=True, slots=True)
class WindowPair:
    """One resolved window pair of a tier, with its factor for the SLO's period."""

    tier: Tier
    long: str
    short: str
    budget_percent: float
    factor: float


@dataclass(frozen=True, slots=True)
class TierWindows:
    """A tier's window pairs; a disabled tier keeps them, because its windows are still recorded (as Sloth does),
    so dashboards and the status' burn rates do not depend on which alerts are on."""

    tier: Tier
    disabled: bool
    pairs: tuple[WindowPair, ...]


@dataclass(frozen=True, slots=True)
class CompiledSLO:
    """What an SLO's rules and evaluation are built from, derived from the spec once.

    ``error_budget`` is ``(100 - objective) / 100``, the expression the rules have always printed: ``1 - 0.999``
    is a different float and would change the generated text. For the same reason ``period_days`` (Sloth's
    ``slo:time_period:days``) is divided from the milliseconds, not from ``period_seconds``.

    Everything but the objective is shared, read-only, by the SLOs with the same period and alert windows (most
    use the defaults): the operator keeps one compiled form per SLO for its lifetime, and 10,000 copies of the
    same window names would cost tens of megabytes.
    """

    period: str
    period_seconds: float
    period_days: float
    objective_ratio: float
    error_budget: float
    tiers: tuple[TierWindows, ...]
    recorded_windows: tuple[str, ...]
    windows_with_period: tuple[str, ...]
    window_seconds: Mapping[str, float]
    native_records: Mapping[str, NativeWindowRecords]
    sloth_records: Mapping[str, str]

    @property
    def shortest_window(self) -> str:
        """The window the period's records and the no-data alert are built on."""
        return self.recorded_windows[0]

    @property
    def period_is_recorded(self) -> bool:
        """Whether some alert window equals the period, so the period already has its windowed records."""
        return len(self.windows_with_period) == len(self.recorded_windows)

    def pairs(self, tier: Tier) -> tuple[WindowPair, ...]:
        """A tier's window pairs, disabled or not (the gate judges the page tier's even with its alert off)."""
        return next((t.pairs for t in self.tiers if t.tier == tier), ())

    def enabled_tiers(self) -> tuple[TierWindows, ...]:
        """The tiers that alert."""
        return tuple(tier for tier in self.tiers if not tier.disabled)

    def threshold(self, pair: WindowPair) -> float:
        """The error ratio both windows of ``pair`` must be above for it to fire: ``factor x error budget``, the
        product the rules print (``(factor * budget)``) and the gate computes, to the bit."""
        return pair.factor * self.error_budget

    def silent_tiers(self, gated: bool = False) -> tuple[TierWindows, ...]:
        """The tiers that can never fire: every pair's threshold is at or above 1. A pair fires on an error ratio
        *above* its threshold and an error ratio is at most 1 (every event bad), so such a pair never does. A
        disabled tier is left out, except the page tier of a ``gated`` SLO: the gate judges the page pairs even
        with the page alert off."""
        return tuple(
            tier
            for tier in self.tiers
            if (not tier.disabled or (gated and tier.tier == "page")) and tier.pairs and all(self.threshold(p) >= 1.0 for p in tier.pairs)
        )


@dataclass(frozen=True, slots=True)
class CompiledKPI:
    """A KPI's durations, derived from the spec once. ``alert_for`` is the ``for:`` its alerts carry, None when a
    breach alerts at once."""

    window: str
    window_seconds: float
    for_seconds: float
    alert_for: Optional[str]


Model = TypeVar("Model")
Compiled = TypeVar("Compiled")


class _PerInstanceMemo(Generic[Model, Compiled]):
    """The compiled form of each live model instance, dropped when the instance is garbage-collected.

    Keyed by ``id(model)`` because pydantic models are unhashable (``__eq__`` without ``__hash__``), which rules
    out a ``weakref.WeakKeyDictionary``; hashing one by value would also cost about as much as compiling it. A
    private attribute on the model would need a change to ``api/models.py``, which keeps the spec's shape and
    nothing derived from it. Each entry holds a weak reference whose callback removes the entry when the model
    dies, before its id can be reused; the lookup also checks the reference still points at the given model.
    ``weakref.finalize`` would do the same with an exit hook and a registry entry per model, for nothing here.

    The compiled form describes the model as it was first compiled: parsed models are not mutated in place (only
    tests rename ``metadata``, which no compiled form reads).
    """

    def __init__(self, build: Callable[[Model], Compiled]):
        self._build = build
        self._entries: dict[int, tuple[weakref.KeyedRef, Compiled]] = {}

    def __call__(self, model: Model) -> Compiled:
        key = id(model)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is model:
            return entry[1]
        compiled = self._build(model)
        self._entries[key] = (weakref.KeyedRef(model, self._forget, key), compiled)
        return compiled

    def _forget(self, ref: weakref.KeyedRef) -> None:
        entry = self._entries.get(ref.key)
        if entry is not None and entry[0] is ref:
            self._entries.pop(ref.key, None)


# A tier as written in the spec: disabled, and its own windows as (long, short, budget percent), or None for the
# defaults.
_TierKey = tuple[bool, Optional[tuple[tuple[str, str, float], ...]]]


@dataclass(frozen=True, slots=True)
class _AlertWindows:
    """The part of a :class:`CompiledSLO` that depends only on the period and the tiers' windows."""

    period: str
    period_ms: int
    tiers: tuple[TierWindows, ...]
    recorded_windows: tuple[str, ...]
    windows_with_period: tuple[str, ...]
    window_seconds: Mapping[str, float]
    native_records: Mapping[str, NativeWindowRecords]
    sloth_records: Mapping[str, str]


def _tier_key(settings: AlertTier) -> _TierKey:
    if not settings.windows:
        return settings.disabled, None
    return settings.disabled, tuple((w.long, w.short, w.budget_percent) for w in settings.windows)


def _tier_windows(tier: Tier, key: _TierKey, defaults: tuple[BurnWindow, ...], period: str) -> TierWindows:
    disabled, own = key
    windows = own if own is not None else tuple((w.long, w.short, w.budget_percent) for w in defaults)
    pairs = tuple(
        WindowPair(
            tier=tier,
            long=format_duration_ms(parse_duration_ms(long)),
            short=format_duration_ms(parse_duration_ms(short)),
            budget_percent=budget_percent,
            factor=burn_rate_factor(budget_percent, period, long),
        )
        for long, short, budget_percent in windows
    )
    return TierWindows(tier=tier, disabled=disabled, pairs=pairs)


@functools.lru_cache(maxsize=512)
def _alert_windows(page: _TierKey, ticket: _TierKey, period_text: str) -> _AlertWindows:
    period_ms = parse_duration_ms(period_text)
    period = format_duration_ms(period_ms)
    tiers = (
        _tier_windows("page", page, PAGE_WINDOWS, period_text),
        _tier_windows("ticket", ticket, TICKET_WINDOWS, period_text),
    )
    spans = {parse_duration_ms(window) for tier in tiers for pair in tier.pairs for window in (pair.short, pair.long)}
    recorded = tuple(format_duration_ms(ms) for ms in sorted(spans))
    with_period = recorded if period in recorded else (*recorded, period)
    return _AlertWindows(
        period=period,
        period_ms=period_ms,
        tiers=tiers,
        recorded_windows=recorded,
        windows_with_period=with_period,
        window_seconds=MappingProxyType({window: parse_duration_ms(window) / 1000.0 for window in with_period}),
        native_records=MappingProxyType({window: native_window_records(window) for window in with_period}),
        sloth_records=MappingProxyType({window: sloth_sli_error(window) for window in with_period}),
    )


def _compile_slo(slo: SLO) -> CompiledSLO:
    spec = slo.spec
    alerting = spec.alerting
    windows = _alert_windows(_tier_key(alerting.page_alert), _tier_key(alerting.ticket_alert), spec.window)
    return CompiledSLO(
        period=windows.period,
        period_seconds=windows.period_ms / 1000.0,
        period_days=windows.period_ms / _DAY_MS,
        objective_ratio=spec.objective / 100,
        error_budget=(100 - spec.objective) / 100,
        tiers=windows.tiers,
        recorded_windows=windows.recorded_windows,
        windows_with_period=windows.windows_with_period,
        window_seconds=windows.window_seconds,
        native_records=windows.native_records,
        sloth_records=windows.sloth_records,
    )


def _compile_kpi(kpi: KPI) -> CompiledKPI:
    spec = kpi.spec
    return CompiledKPI(
        window=spec.window,
        window_seconds=parse_duration_ms(spec.window) / 1000.0,
        for_seconds=parse_duration_ms(spec.for_) / 1000.0,
        alert_for=spec.for_ if spec.for_ and spec.for_ not in ("0", "0s") else None,
    )


_COMPILED_SLOS: _PerInstanceMemo[SLO, CompiledSLO] = _PerInstanceMemo(_compile_slo)
_COMPILED_KPIS: _PerInstanceMemo[KPI, CompiledKPI] = _PerInstanceMemo(_compile_kpi)


def compile_slo(slo: SLO) -> CompiledSLO:
    """The :class:`CompiledSLO` of ``slo``, built on the first call for that instance and reused after."""
    return _COMPILED_SLOS(slo)


def compile_kpi(kpi: KPI) -> CompiledKPI:
    """The :class:`CompiledKPI` of ``kpi``, built on the first call for that instance and reused after."""
    return _COMPILED_KPIS(kpi)
