"""One evaluation of a gated KPI or SLO -> a verdict: pass, fail, inconclusive or error.

The inputs are plain data the caller has already read from Prometheus (samples, error ratios, event counts, or
the error the query raised), so every rule here is tested without a server. Each verdict carries the value, the
threshold and the query behind it, and a ``reason`` written for the person reading ``status.gate``.

Two kinds of "inconclusive" are told apart, because ``gate.noData`` speaks only of one of them:

- *no data*: the query returned nothing, or NaN (0/0 when nothing happened). ``noData: fail`` counts it as a
  failure; ``noData: hold`` (the default) holds.
- *not enough evidence*: the SLO's long window saw fewer than ``alerting.minEvents`` events, or a KPI's samples
  are breached throughout but do not yet reach back the KPI's ``for``. These always hold, whatever ``noData``
  says: ``minEvents`` exists precisely so that a canary taking a trickle of traffic is not judged on it.

An ``error`` (Prometheus unreachable, a query rejected) never becomes a failure: no gate acts on what it could
not read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, Mapping, Optional, Sequence, Tuple

from ..api.durations import DurationError, format_duration_ms, normalize_duration, parse_duration_ms
from ..api.models import KPI, SLO, Gate
from ..api.status import GateVerdict
from ..api.promql import format_float, render_window
from ..api.timestamps import utc_timestamp
from ..api.comparison import BREACH_OP, breached
from ..rules.kpi import breach_levels
from ..rules.compiled import WindowPair, compile_kpi, compile_slo

NoData = Literal["hold", "fail"]
Sample = Tuple[float, Optional[float]]
"""``(unix timestamp in seconds, value)``; a value of ``None`` or NaN is a gap."""

_WORDS = {"<": "below", "<=": "at or below", ">": "above", ">=": "at or above"}


class Verdict(str, Enum):
    """What one evaluation says about the canary."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


@dataclass(frozen=True)
class Outcome:
    """A verdict and what was behind it: the value, the threshold it was held against, and the query.

    For an SLO, ``value`` is the smaller of the deciding pair's short and long error ratios (the pair fires
    exactly when that smaller one is above ``threshold``); the reason gives both.
    """

    verdict: Verdict
    reason: str
    value: Optional[float] = None
    threshold: Optional[float] = None
    query: str = ""

    def to_status(self) -> GateVerdict:
        """The outcome as ``status.gate.verdict`` shows it."""
        return GateVerdict(verdict=self.verdict.value, reason=self.reason, value=self.value, threshold=self.threshold, query=self.query)


@dataclass(frozen=True)
class KPIReading:
    """What the caller read for a KPI: a short series of samples reaching back at least the KPI's ``for``.

    Pass a little more than ``for`` (``for`` plus one evaluation step): a breach is only known to have lasted
    ``for`` when a breached sample sits at least ``for`` before the latest one.
    """

    samples: Sequence[Sample] = ()
    query: str = ""
    query_error: Optional[str] = None
    rules_evaluated: bool = True
    """False when the operator sees none of the KPI's recorded series: its rules are not (yet) evaluated."""


@dataclass(frozen=True)
class SLOReading:
    """What the caller read for an SLO: error ratios per window and, for ``minEvents``, events per window.

    Windows are keyed as written in the rules (``5m``, ``1h``, ``6h``); ``60m`` finds ``1h`` too. ``events`` is
    the number of events (not the rate) in each window, e.g. from ``increase()`` of the total counter.
    """

    error_ratios: Mapping[str, Optional[float]] = field(default_factory=dict)
    events: Mapping[str, Optional[float]] = field(default_factory=dict)
    query: str = ""
    query_error: Optional[str] = None
    rules_evaluated: bool = True
    """False when the operator sees none of the SLO's recorded series: its rules are not (yet) evaluated."""


class _Hold(Enum):
    NO_DATA = "no data"
    NOT_ENOUGH = "not enough evidence"
    TOO_EARLY = "data from before a restore"


_RANGE = re.compile(r"\[\s*((?:\d+(?:ms|[smhdwy]))+)\s*(?::[^\]]*)?\]")


def query_lookback_seconds(query: str) -> float:
    """The longest range selector in a PromQL query (``rate(x[5m])`` looks back 5 minutes): a sample of the
    query holds data that old. 0 for a query without ranges."""
    longest = 0.0
    for match in _RANGE.finditer(query):
        try:
            longest = max(longest, parse_duration_ms(match.group(1)) / 1000.0)
        except DurationError:
            continue
    return longest


def _missing(value: Optional[float]) -> bool:
    return value is None or math.isnan(value)


def _no_data_setting(spec_gate: Optional[Gate], override: Optional[NoData]) -> NoData:
    if override is not None:
        return override
    return spec_gate.no_data if spec_gate is not None else "hold"


def _error(name: str, query_error: str, query: str, threshold: Optional[float]) -> Outcome:
    return Outcome(
        Verdict.ERROR,
        f"Could not evaluate {name}: {query_error}. The gate holds and never acts on an error; "
        "check that Prometheus is reachable and the query is valid.",
        None,
        threshold,
        query,
    )


def clock_outcome(reason: str) -> Outcome:
    """The verdict of every gate while the operator's clock and Prometheus' disagree: an error, which never acts."""
    return Outcome(Verdict.ERROR, f"{reason} The gate holds and never acts while the clocks disagree.")


def conflict_outcome(conflict: str) -> Outcome:
    """The verdict of an object whose series cannot be told from another's (``ObjectSeries.conflict``): a hold,
    whatever ``noData`` says, since the data may be the other object's."""
    return Outcome(Verdict.INCONCLUSIVE, f"{conflict} The gate holds.")


def _hold(kind: _Hold, reason: str, no_data: NoData, value: Optional[float], threshold: Optional[float], query: str) -> Outcome:
    if kind is _Hold.NO_DATA and no_data == "fail":
        return Outcome(Verdict.FAIL, f"{reason} Counted as a failure because gate.noData is fail.", value, threshold, query)
    return Outcome(Verdict.INCONCLUSIVE, reason, value, threshold, query)


def _moment(unix: float) -> str:
    return utc_timestamp(unix)


def _rules_not_evaluated(name: str) -> str:
    return (
        f"Prometheus does not evaluate the recording rules of {name} (none of its recorded series is fresh): a new "
        "object whose rules are not loaded yet, or a rule file Prometheus refused. The gate holds, whatever noData "
        "says: missing rules are not a silent service."
    )


def _span(seconds: float) -> str:
    return format_duration_ms(int(round(seconds)) * 1000)


# --- KPI --------------------------------------------------------------------------------------------------------


def kpi_gate_bound(kpi: KPI) -> tuple[str, float]:
    """The line a gated KPI must not cross, named: the most severe level its alerts use (``breach_levels``).

    That is the critical threshold; with only a warning threshold, the warning (gating on the target instead
    would act before any alert of the KPI fires); with no thresholds, the target.
    """
    severity, bound = breach_levels(kpi)[-1]
    thresholds = kpi.spec.thresholds
    if thresholds is None or (thresholds.warning is None and thresholds.critical is None):
        return "target", bound
    return f"{severity} threshold", bound


def kpi_verdict(kpi: KPI, reading: KPIReading, no_data: Optional[NoData] = None, since: Optional[float] = None) -> Outcome:
    """Fail when the KPI has been beyond its critical threshold (``kpi_gate_bound``) for at least its ``for``.

    "Beyond" is ``value BREACH_OP[op] bound``, as in the KPI's alerts. The breach is the trailing run of breached
    samples; a gap or a healthy sample ends it, as a missing or healthy evaluation resets a Prometheus alert's
    ``for``. With ``for: 0s`` the latest sample decides. A run shorter than ``for`` passes when a healthy sample
    precedes it (the breach is new) and is inconclusive when it fills the whole series (it may be older than the
    series shows). ``no_data`` overrides ``gate.noData``.
    """
    spec = kpi.spec
    name = f"KPI {kpi.metadata.name}"
    setting = _no_data_setting(spec.gate, no_data)
    label, bound = kpi_gate_bound(kpi)
    query = reading.query
    if reading.query_error is not None:
        return _error(name, reading.query_error, query, bound)
    if not reading.rules_evaluated:
        return Outcome(Verdict.INCONCLUSIVE, _rules_not_evaluated(name), None, bound, query)

    op = BREACH_OP[spec.target.op]
    needed = parse_duration_ms(spec.for_) / 1000.0
    samples = sorted(reading.samples, key=lambda sample: sample[0])
    if since is not None:
        # A restored template: judged only on samples whose whole lookback lies after the restore.
        start = since + query_lookback_seconds(render_window(spec.query, compile_kpi(kpi).window))
        samples = [sample for sample in samples if sample[0] > start]
        if not samples:
            return Outcome(
                Verdict.INCONCLUSIVE,
                f"{name}: the running template was restored at {_moment(since)}; no sample whose range lies "
                f"wholly after that yet (the query looks back {_span(start - since)}).",
                None,
                bound,
                query,
            )
    if not samples or _missing(samples[-1][1]):
        what = "returned no samples" if not samples else "has no value at its latest sample"
        return _hold(
            _Hold.NO_DATA,
            f"The query of {name} {what}; check that the series exists and its targets are scraped.",
            setting,
            None,
            bound,
            query,
        )

    latest_time, latest = samples[-1][0], samples[-1][1]
    assert latest is not None
    where = f"{_WORDS[op]} its {label} {format_float(bound)}"
    run_start: Optional[float] = None
    for time, value in reversed(samples):
        if value is None or math.isnan(value) or not breached(spec.target.op, value, bound):
            break
        run_start = time
    if run_start is None:
        return Outcome(Verdict.PASS, f"{name} is {format_float(latest)}, not {where}.", latest, bound, query)

    lasted = latest_time - run_start
    if lasted >= needed:
        return Outcome(
            Verdict.FAIL,
            f"{name} has been {where} for {_span(lasted)} (now {format_float(latest)}), "
            f"at least its for of {_span(needed)}.",
            latest,
            bound,
            query,
        )
    if run_start == samples[0][0]:
        return _hold(
            _Hold.NOT_ENOUGH,
            f"{name} is {where} (now {format_float(latest)}) in every sample, but the samples reach back only "
            f"{_span(lasted)} of its for of {_span(needed)}; the caller must read a longer range.",
            setting,
            latest,
            bound,
            query,
        )
    return Outcome(
        Verdict.PASS,
        f"{name} has been {where} for {_span(lasted)} (now {format_float(latest)}), "
        f"less than its for of {_span(needed)}.",
        latest,
        bound,
        query,
    )


# --- SLO --------------------------------------------------------------------------------------------------------


def _by_window(values: Mapping[str, Optional[float]]) -> dict[str, Optional[float]]:
    result: dict[str, Optional[float]] = {}
    for window, value in values.items():
        try:
            result[normalize_duration(window)] = value
        except DurationError:
            result[window] = value
    return result


def error_budget(slo: SLO) -> float:
    """``1 - objective``, computed as the generated rules compute it, so the gate and the alerts agree to the bit."""
    return compile_slo(slo).error_budget


def _burn(ratio: float, budget: float) -> str:
    return f"{ratio / budget:.3g}x"


@dataclass(frozen=True)
class _PairResult:
    pair: WindowPair
    threshold: float
    short: Optional[float]
    long: Optional[float]
    events: Optional[float]
    hold: Optional[_Hold] = None

    @property
    def firing(self) -> bool:
        return self.hold is None and self.short is not None and self.long is not None and min(self.short, self.long) > self.threshold

    @property
    def closeness(self) -> float:
        if self.short is None or self.long is None:
            return -math.inf
        return min(self.short, self.long) / self.threshold

    @property
    def value(self) -> Optional[float]:
        if self.short is None or self.long is None:
            return None
        return min(self.short, self.long)


def _judge_pair(
    pair: WindowPair,
    threshold: float,
    ratios: dict[str, Optional[float]],
    events: dict[str, Optional[float]],
    min_events: Optional[int],
    too_early: bool = False,
) -> _PairResult:
    short, long = ratios.get(pair.short), ratios.get(pair.long)
    short = None if _missing(short) else short
    long = None if _missing(long) else long
    count = events.get(pair.long)
    count = None if _missing(count) else count
    hold = None
    if too_early:
        hold = _Hold.TOO_EARLY
    elif short is None or long is None:
        hold = _Hold.NO_DATA
    elif min_events is not None and (count is None or count < min_events):
        hold = _Hold.NO_DATA if count is None else _Hold.NOT_ENOUGH
    return _PairResult(pair, threshold, short, long, count, hold)


def slo_verdict(
    slo: SLO,
    reading: SLOReading,
    no_data: Optional[NoData] = None,
    since: Optional[float] = None,
    at: Optional[float] = None,
) -> Outcome:
    """Fail when a page-tier window pair burns above its threshold in both its short and its long window.

    The condition is the page alert's: ``ratio(short) > factor x (1 - objective)`` and the same for the long
    window, for any pair of the page tier (``compile_slo(slo).pairs("page")``; a disabled page alert still
    gates: ``gate`` is its own switch). A firing pair fails the SLO even when another pair has no data.
    Otherwise a pair without data makes the verdict inconclusive (no data), then a pair whose long window saw
    fewer than ``minEvents`` events (not enough evidence; an unknown count is no data). ``no_data`` overrides
    ``gate.noData``.

    ``since`` (a rollback restored the running template then) with ``at`` (the samples' time): a pair is judged
    only once its long window lies wholly after ``since``; until then it holds (whatever ``noData`` says), so a
    restored template is never judged on the errors of the template it replaced.
    """
    spec = slo.spec
    name = f"SLO {slo.metadata.name}"
    setting = _no_data_setting(spec.gate, no_data)
    budget = error_budget(slo)
    pairs = compile_slo(slo).pairs("page")
    query = reading.query
    if reading.query_error is not None:
        first = pairs[0].factor * budget if pairs else None
        return _error(name, reading.query_error, query, first)

    if not reading.rules_evaluated:
        return Outcome(Verdict.INCONCLUSIVE, _rules_not_evaluated(name), None, pairs[0].factor * budget if pairs else None, query)
    ratios, events = _by_window(reading.error_ratios), _by_window(reading.events)
    min_events = spec.alerting.min_events
    def too_early(pair: WindowPair) -> bool:
        if since is None:
            return False
        return at is None or at - parse_duration_ms(pair.long) / 1000.0 < since

    results = [_judge_pair(pair, pair.factor * budget, ratios, events, min_events, too_early(pair)) for pair in pairs]

    for result in results:
        if result.firing:
            assert result.short is not None and result.long is not None
            pair = result.pair
            return Outcome(
                Verdict.FAIL,
                f"{name} burns its error budget {_burn(result.short, budget)} over {pair.short} and "
                f"{_burn(result.long, budget)} over {pair.long}, both above the page threshold of "
                f"{format_float(round(pair.factor, 4))}x (error ratios {format_float(result.short)} and "
                f"{format_float(result.long)} > {format_float(round(result.threshold, 6))}); at this rate "
                f"{format_float(pair.budget_percent)}% of the {spec.window} budget is gone within {pair.long}.",
                result.value,
                result.threshold,
                query,
            )

    for kind in (_Hold.TOO_EARLY, _Hold.NO_DATA, _Hold.NOT_ENOUGH):
        held = [result for result in results if result.hold is kind]
        if not held:
            continue
        result = held[0]
        pair = result.pair
        if kind is _Hold.TOO_EARLY:
            assert since is not None
            reason = (
                f"{name}: the running template was restored at {_moment(since)}; its {pair.short}/{pair.long} "
                f"page pair is judged once its {pair.long} window holds only data from after that."
            )
        elif kind is _Hold.NOT_ENOUGH:
            reason = (
                f"{name} saw only {format_float(result.events or 0)} events in the last {pair.long}, below "
                f"alerting.minEvents {min_events}: too little traffic to judge the {pair.short}/{pair.long} pair."
            )
        else:
            gaps = [w for w, v in ((pair.short, result.short), (pair.long, result.long)) if v is None]
            if gaps:
                reason = (
                    f"{name} has no error ratio for the {' and '.join(gaps)} window"
                    f"{'s' if len(gaps) > 1 else ''} of its {pair.short}/{pair.long} page pair; check that its "
                    "recording rules are loaded and the service is scraped."
                )
            else:
                reason = (
                    f"{name} has no event count for the {pair.long} window, which alerting.minEvents "
                    f"{min_events} needs; check the total query."
                )
        return _hold(kind, reason, setting, result.value, result.threshold, query)

    if not results:
        return _hold(_Hold.NO_DATA, f"{name} has no page-tier window pairs to judge.", setting, None, None, query)
    closest = max(results, key=lambda result: result.closeness)
    assert closest.short is not None and closest.long is not None
    pair = closest.pair
    return Outcome(
        Verdict.PASS,
        f"{name} burns no page pair above its threshold; the closest, {pair.short}/{pair.long}, burns "
        f"{_burn(closest.short, budget)} and {_burn(closest.long, budget)} against "
        f"{format_float(round(pair.factor, 4))}x.",
        closest.value,
        closest.threshold,
        query,
    )
