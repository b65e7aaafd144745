"""Verdicts of one gate evaluation: KPI samples and SLO error ratios -> pass / fail / inconclusive / error."""

from __future__ import annotations

import math
from typing import Any, Optional

import pytest

from kpi_operator.api.models import KPI, SLO
from kpi_operator.gate import KPIReading, SLOReading, Verdict, kpi_verdict, slo_verdict

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
KPI_QUERY = "kpi:value{kpi_namespace=\"shop\",kpi_name=\"checkout-conversion\"}"
SLO_QUERY = "slo:sli_error:ratio_rate5m{slo_namespace=\"shop\",slo_name=\"checkout-availability\"}"

# 99.9% leaves an error budget of (100 - 99.9) / 100, computed as the generated rules compute it.
PAGE_1H = 0.014399999999999183  # 14.4 x budget: the 1h/5m pair at 30d
PAGE_6H = 0.005999999999999659  # 6 x budget: the 6h/30m pair at 30d
PAGE_1H_28D = 0.013439999999999236  # 13.44 x budget: the 1h/5m pair at 28d


def kpi(
    *,
    op: str = ">=",
    target: float = 0.03,
    thresholds: Optional[dict[str, float]] = None,
    for_: str = "5m",
    no_data: str = "hold",
) -> KPI:
    """The checkout conversion KPI of examples/, gated on the checkout canary."""
    spec: dict[str, Any] = {
        "owner": "team-growth",
        "query": "sum(rate(orders_total[{{.window}}])) / sum(rate(checkout_sessions_total[{{.window}}]))",
        "window": "10m",
        "target": {"op": op, "value": target},
        "for": for_,
        "gate": {"selector": {"matchLabels": {"app": "checkout", "track": "canary"}}, "noData": no_data},
    }
    if thresholds is not None:
        spec["thresholds"] = thresholds
    return KPI.model_validate(
        {"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "metadata": {"name": "checkout-conversion", "namespace": "shop"}, "spec": spec}
    )


def conversion(no_data: str = "hold", for_: str = "5m") -> KPI:
    return kpi(thresholds={"warning": 0.028, "critical": 0.025}, no_data=no_data, for_=for_)


def series(*values: Optional[float], step: float = 60.0) -> list[tuple[float, Optional[float]]]:
    """Samples one ``step`` apart, the last one at ``NOW``."""
    count = len(values)
    return [(NOW - (count - 1 - index) * step, value) for index, value in enumerate(values)]


def slo(*, objective: float = 99.9, window: str = "30d", min_events: Optional[int] = None, no_data: str = "hold", page_disabled: bool = False) -> SLO:
    """The checkout availability SLO of examples/, gated on the checkout canary."""
    alerting: dict[str, Any] = {"pageAlert": {"disabled": page_disabled}}
    if min_events is not None:
        alerting["minEvents"] = min_events
    return SLO.model_validate(
        {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": "SLO",
            "metadata": {"name": "checkout-availability", "namespace": "shop"},
            "spec": {
                "service": "checkout",
                "owner": "team-payments",
                "objective": objective,
                "window": window,
                "indicator": {
                    "ratio": {
                        "errors": 'sum(rate(http_requests_total{service="checkout",code=~"5.."}[{{.window}}]))',
                        "total": 'sum(rate(http_requests_total{service="checkout"}[{{.window}}]))',
                    }
                },
                "alerting": alerting,
                "gate": {"selector": {"matchLabels": {"app": "checkout", "track": "canary"}}, "noData": no_data},
            },
        }
    )


def ratios(m5: Optional[float] = 0.0005, m30: Optional[float] = 0.0005, h1: Optional[float] = 0.0005, h6: Optional[float] = 0.0005, **more: Optional[float]) -> dict[str, Optional[float]]:
    return {"5m": m5, "30m": m30, "1h": h1, "6h": h6, **more}


# --- KPI --------------------------------------------------------------------------------------------------------

KPI_CASES = [
    pytest.param(conversion(), series(0.021, 0.021, 0.022, 0.021, 0.020, 0.021), Verdict.FAIL, 0.021, 0.025,
                 id="A KPI below its critical threshold for its whole `for` fails"),
    pytest.param(conversion(), series(0.031, 0.032, 0.031, 0.030, 0.031, 0.031), Verdict.PASS, 0.031, 0.025,
                 id="A KPI on target passes"),
    pytest.param(conversion(), series(0.027, 0.027, 0.027, 0.027, 0.027, 0.027), Verdict.PASS, 0.027, 0.025,
                 id="A KPI past its warning but not its critical threshold passes: warnings never gate"),
    pytest.param(conversion(), series(0.025, 0.025, 0.025, 0.025, 0.025, 0.025), Verdict.PASS, 0.025, 0.025,
                 id="A value exactly at the critical threshold is not beyond it"),
    pytest.param(conversion(), series(0.031, 0.031, 0.031, 0.021, 0.021, 0.021), Verdict.PASS, 0.021, 0.025,
                 id="A breach that began after a healthy sample and is shorter than `for` passes"),
    pytest.param(conversion(), series(0.021, 0.021, 0.021), Verdict.INCONCLUSIVE, 0.021, 0.025,
                 id="A breach filling a series shorter than `for` holds"),
    pytest.param(conversion(), series(0.021, 0.021, None, 0.021, 0.021, 0.021), Verdict.PASS, 0.021, 0.025,
                 id="A gap restarts the breach, as it restarts a Prometheus alert's `for`"),
    pytest.param(conversion(), series(0.021, 0.021, 0.021, 0.021, 0.021, 0.031), Verdict.PASS, 0.031, 0.025,
                 id="A healthy latest sample passes however long the breach before it"),
    pytest.param(conversion(), list(reversed(series(0.021, 0.021, 0.022, 0.021, 0.020, 0.021))), Verdict.FAIL, 0.021, 0.025,
                 id="Samples are read in time order whatever order they come in"),
    pytest.param(conversion(for_="0s"), series(0.031, 0.021), Verdict.FAIL, 0.021, 0.025,
                 id="With `for: 0s` a breached latest sample fails"),
    pytest.param(conversion(for_="0s"), series(0.021, 0.031), Verdict.PASS, 0.031, 0.025,
                 id="With `for: 0s` a healthy latest sample passes"),
    pytest.param(kpi(op="<=", target=0.3, for_="0s"), series(0.35), Verdict.FAIL, 0.35, 0.3,
                 id="Without thresholds the target is the line: p99 0.35s over a 0.3s target fails"),
    pytest.param(kpi(op="<=", target=0.3, for_="0s"), series(0.3), Verdict.PASS, 0.3, 0.3,
                 id="Without thresholds a value exactly on a <= target passes"),
    pytest.param(kpi(op="<", target=0.3, for_="0s"), series(0.3), Verdict.FAIL, 0.3, 0.3,
                 id="Without thresholds a value exactly on a < target fails"),
    pytest.param(kpi(thresholds={"warning": 0.028}, for_="0s"), series(0.029), Verdict.PASS, 0.029, 0.028,
                 id="With only a warning threshold the warning is the line: just under target passes"),
    pytest.param(kpi(thresholds={"warning": 0.028}, for_="0s"), series(0.027), Verdict.FAIL, 0.027, 0.028,
                 id="With only a warning threshold the warning is the line: beyond it fails"),
    pytest.param(conversion(), [], Verdict.INCONCLUSIVE, None, 0.025,
                 id="No data holds by default"),
    pytest.param(conversion(), series(0.021, 0.021, math.nan), Verdict.INCONCLUSIVE, None, 0.025,
                 id="A NaN latest sample is no data"),
    pytest.param(conversion(no_data="fail"), [], Verdict.FAIL, None, 0.025,
                 id="noData: fail turns no data into a failure"),
    pytest.param(conversion(no_data="fail"), series(0.021, 0.021, 0.021), Verdict.INCONCLUSIVE, 0.021, 0.025,
                 id="noData: fail leaves a series shorter than `for` on hold: that is not missing data"),
]


@pytest.mark.parametrize(("obj", "samples", "verdict", "value", "threshold"), KPI_CASES)
def test_kpi_verdict(obj: KPI, samples: list[tuple[float, Optional[float]]], verdict: Verdict, value: Optional[float], threshold: float) -> None:
    outcome = kpi_verdict(obj, KPIReading(samples=samples, query=KPI_QUERY))
    assert (outcome.verdict, outcome.value, outcome.threshold, outcome.query) == (verdict, value, threshold, KPI_QUERY)


@pytest.mark.parametrize(
    "no_data",
    [pytest.param("hold", id="with noData: hold"), pytest.param("fail", id="with noData: fail")],
)
def test_prometheus_unreachable_is_an_error_for_a_kpi(no_data: str) -> None:
    """Prometheus unreachable is an error and never acts, whatever noData says."""
    reading = KPIReading(samples=[], query=KPI_QUERY, query_error="GET http://prometheus:9090/api/v1/query_range: connection refused")
    outcome = kpi_verdict(conversion(no_data=no_data), reading)
    assert outcome.verdict is Verdict.ERROR
    assert outcome.reason == (
        "Could not evaluate KPI checkout-conversion: GET http://prometheus:9090/api/v1/query_range: connection refused. "
        "The gate holds and never acts on an error; check that Prometheus is reachable and the query is valid."
    )


KPI_REASONS = [
    pytest.param(conversion(), series(0.021, 0.021, 0.022, 0.021, 0.020, 0.021),
                 "KPI checkout-conversion has been below its critical threshold 0.025 for 5m (now 0.021), at least its for of 5m.",
                 id="A failure says how long and against what"),
    pytest.param(conversion(), series(0.031, 0.031, 0.031, 0.021, 0.021, 0.021),
                 "KPI checkout-conversion has been below its critical threshold 0.025 for 2m (now 0.021), less than its for of 5m.",
                 id="A young breach says how far it is from `for`"),
    pytest.param(conversion(), series(0.031),
                 "KPI checkout-conversion is 0.031, not below its critical threshold 0.025.",
                 id="A pass says the value and the line"),
    pytest.param(conversion(), series(0.021, 0.021, 0.021),
                 "KPI checkout-conversion is below its critical threshold 0.025 (now 0.021) in every sample, but the samples "
                 "reach back only 2m of its for of 5m; the caller must read a longer range.",
                 id="A short series says the caller must read more"),
    pytest.param(conversion(), [],
                 "The query of KPI checkout-conversion returned no samples; check that the series exists and its targets are scraped.",
                 id="No data says where to look"),
    pytest.param(conversion(no_data="fail"), [],
                 "The query of KPI checkout-conversion returned no samples; check that the series exists and its targets "
                 "are scraped. Counted as a failure because gate.noData is fail.",
                 id="A failure from no data says that noData made it one"),
]


@pytest.mark.parametrize(("obj", "samples", "reason"), KPI_REASONS)
def test_kpi_reason(obj: KPI, samples: list[tuple[float, Optional[float]]], reason: str) -> None:
    assert kpi_verdict(obj, KPIReading(samples=samples, query=KPI_QUERY)).reason == reason


def test_the_no_data_argument_overrides_the_gate_setting() -> None:
    """The `kpi-operator gate` command may pass --no-data; it wins over spec.gate.noData."""
    assert kpi_verdict(conversion(no_data="hold"), KPIReading(query=KPI_QUERY), no_data="fail").verdict is Verdict.FAIL


# --- SLO --------------------------------------------------------------------------------------------------------

SLO_CASES = [
    pytest.param(slo(), ratios(m5=0.02, h1=0.015), {}, Verdict.FAIL, 0.015, PAGE_1H,
                 id="An SLO burning 14.4x over 5m and 1h at 99.9% fails (15x and 20x here)"),
    pytest.param(slo(), ratios(m5=0.05, h1=0.002), {}, Verdict.PASS, 0.002, PAGE_1H,
                 id="Burning only the short window passes"),
    pytest.param(slo(), ratios(m5=0.002, h1=0.02), {}, Verdict.PASS, 0.002, PAGE_1H,
                 id="Burning only the long window passes: the short window shows it has stopped"),
    pytest.param(slo(), ratios(m30=0.007, h6=0.0065), {}, Verdict.FAIL, 0.0065, PAGE_6H,
                 id="Burning 6.5x over 30m and 6h fails on the second page pair"),
    pytest.param(slo(), ratios(m5=PAGE_1H, h1=PAGE_1H), {}, Verdict.PASS, PAGE_1H, PAGE_1H,
                 id="An error ratio equal to the threshold is not above it, as in the alert"),
    pytest.param(slo(), ratios(**{"1d": 0.01, "2h": 0.01, "3d": 0.01}), {}, Verdict.PASS, 0.0005, PAGE_6H,
                 id="A ticket-tier burn alone passes: only the page tier gates"),
    pytest.param(slo(window="28d"), ratios(m5=0.0135, h1=0.0135), {}, Verdict.FAIL, 0.0135, PAGE_1H_28D,
                 id="A 28d SLO pages at 13.44x, below the 14.4x of 30d"),
    pytest.param(slo(page_disabled=True), ratios(m5=0.02, h1=0.015), {}, Verdict.FAIL, 0.015, PAGE_1H,
                 id="A disabled page alert still gates: gate is its own switch"),
    pytest.param(slo(), {"5m": 0.02, "60m": 0.015, "30m": 0.0005, "360m": 0.0005}, {}, Verdict.FAIL, 0.015, PAGE_1H,
                 id="Windows spelled 60m and 360m find the 1h and 6h windows"),
    pytest.param(slo(), ratios(None, None, None, None), {}, Verdict.INCONCLUSIVE, None, PAGE_1H,
                 id="No data holds by default"),
    pytest.param(slo(), ratios(h1=math.nan), {}, Verdict.INCONCLUSIVE, None, PAGE_1H,
                 id="A NaN error ratio (0/0: no requests) is no data"),
    pytest.param(slo(), ratios(m30=None), {}, Verdict.INCONCLUSIVE, None, PAGE_6H,
                 id="A missing 30m window holds even when the 1h/5m pair is fine"),
    pytest.param(slo(), ratios(m5=0.02, h1=0.015, m30=None, h6=None), {}, Verdict.FAIL, 0.015, PAGE_1H,
                 id="A burning pair fails even when the other pair has no data"),
    pytest.param(slo(no_data="fail"), ratios(None, None, None, None), {}, Verdict.FAIL, None, PAGE_1H,
                 id="noData: fail turns no data into a failure"),
    pytest.param(slo(min_events=100), ratios(m5=0.02, h1=0.015), {"1h": 42, "6h": 900}, Verdict.INCONCLUSIVE, 0.015, PAGE_1H,
                 id="Fewer events than minEvents in the long window holds, however high the ratio"),
    pytest.param(slo(min_events=100, no_data="fail"), ratios(m5=0.02, h1=0.015), {"1h": 42, "6h": 900}, Verdict.INCONCLUSIVE, 0.015, PAGE_1H,
                 id="Low traffic holds even with noData: fail"),
    pytest.param(slo(min_events=100), ratios(m5=0.02, h1=0.015), {"1h": 100, "6h": 900}, Verdict.FAIL, 0.015, PAGE_1H,
                 id="Exactly minEvents events is enough to judge"),
    pytest.param(slo(min_events=100), ratios(m30=0.007, h6=0.0065), {"1h": 42, "6h": 900}, Verdict.FAIL, 0.0065, PAGE_6H,
                 id="A quiet last hour does not shield a 6h burn"),
    pytest.param(slo(min_events=100), ratios(), {}, Verdict.INCONCLUSIVE, 0.0005, PAGE_1H,
                 id="An unknown event count under minEvents is no data"),
    pytest.param(slo(min_events=100, no_data="fail"), ratios(), {}, Verdict.FAIL, 0.0005, PAGE_1H,
                 id="An unknown event count under minEvents with noData: fail is a failure"),
]


@pytest.mark.parametrize(("obj", "error_ratios", "events", "verdict", "value", "threshold"), SLO_CASES)
def test_slo_verdict(obj: SLO, error_ratios: dict[str, Optional[float]], events: dict[str, Optional[float]], verdict: Verdict, value: Optional[float], threshold: float) -> None:
    outcome = slo_verdict(obj, SLOReading(error_ratios=error_ratios, events=events, query=SLO_QUERY))
    assert (outcome.verdict, outcome.value, outcome.threshold, outcome.query) == (verdict, value, threshold, SLO_QUERY)


@pytest.mark.parametrize(
    "no_data",
    [pytest.param("hold", id="with noData: hold"), pytest.param("fail", id="with noData: fail")],
)
def test_prometheus_unreachable_is_an_error_for_an_slo(no_data: str) -> None:
    """Prometheus unreachable is an error and never acts, whatever noData says."""
    reading = SLOReading(query=SLO_QUERY, query_error="HTTP 503 from http://prometheus:9090")
    outcome = slo_verdict(slo(no_data=no_data), reading)
    assert (outcome.verdict, outcome.value, outcome.threshold) == (Verdict.ERROR, None, PAGE_1H)


SLO_REASONS = [
    pytest.param(slo(), ratios(m5=0.02, h1=0.015), {},
                 "SLO checkout-availability burns its error budget 20x over 5m and 15x over 1h, both above the page "
                 "threshold of 14.4x (error ratios 0.02 and 0.015 > 0.0144); at this rate 2% of the 30d budget is gone "
                 "within 1h.",
                 id="A failure names the pair, the burn rates and what they cost"),
    pytest.param(slo(), ratios(m5=0.05, h1=0.002), {},
                 "SLO checkout-availability burns no page pair above its threshold; the closest, 5m/1h, burns 50x and 2x against 14.4x.",
                 id="A pass names the pair closest to firing"),
    pytest.param(slo(), ratios(m30=None, h6=None), {},
                 "SLO checkout-availability has no error ratio for the 30m and 6h windows of its 30m/6h page pair; check "
                 "that its recording rules are loaded and the service is scraped.",
                 id="No data names the missing windows"),
    pytest.param(slo(min_events=100), ratios(), {"1h": 42, "6h": 900},
                 "SLO checkout-availability saw only 42 events in the last 1h, below alerting.minEvents 100: too little "
                 "traffic to judge the 5m/1h pair.",
                 id="Low traffic says how little"),
]


@pytest.mark.parametrize(("obj", "error_ratios", "events", "reason"), SLO_REASONS)
def test_slo_reason(obj: SLO, error_ratios: dict[str, Optional[float]], events: dict[str, Optional[float]], reason: str) -> None:
    assert slo_verdict(obj, SLOReading(error_ratios=error_ratios, events=events, query=SLO_QUERY)).reason == reason


def test_an_outcome_reads_as_status() -> None:
    outcome = slo_verdict(slo(), SLOReading(error_ratios=ratios(m5=0.02, h1=0.015), query=SLO_QUERY))
    assert outcome.to_status().to_patch() == {
        "verdict": "fail",
        "reason": outcome.reason,
        "value": 0.015,
        "threshold": PAGE_1H,
        "query": SLO_QUERY,
    }


def test_rules_not_evaluated_hold_even_with_no_data_fail() -> None:
    """A new object's rules are not loaded yet: that is not a silent service, so noData: fail must not fail."""
    outcome = slo_verdict(slo(no_data="fail"), SLOReading(error_ratios={}, query="q", rules_evaluated=False))
    assert outcome.verdict is Verdict.INCONCLUSIVE and "does not evaluate the recording rules" in outcome.reason
    outcome = kpi_verdict(conversion(no_data="fail"), KPIReading(samples=[], rules_evaluated=False))
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert slo_verdict(slo(no_data="fail"), SLOReading(error_ratios={}, query="q")).verdict is Verdict.FAIL
