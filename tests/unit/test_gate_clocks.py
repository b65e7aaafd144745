"""Time in the gate: which samples judge a restored template, a KPI's ``for`` on the samples' own clock, and the
operator's clock against Prometheus'."""

from __future__ import annotations

from typing import Optional

import pytest

from kpi_operator.evaluation import clock_disagreement, kpi_history_after
from kpi_operator.gate import KPIReading, SLOReading, Verdict, kpi_verdict, slo_verdict
from kpi_operator.gate.verdict import query_lookback_seconds

from unit.test_gate_verdict import NOW, conversion, ratios, series, slo

BURNING = ratios(m5=0.05, m30=0.05, h1=0.05, h6=0.05)


@pytest.mark.parametrize(
    "query, seconds",
    [
        pytest.param("sum(rate(x[5m]))", 300.0, id="One range"),
        pytest.param("sum(rate(x[5m])) / sum(increase(y[1h]))", 3600.0, id="The longest of several"),
        pytest.param("max_over_time(rate(x[1m])[30m:1m])", 1800.0, id="A subquery's range"),
        pytest.param("sum(x)", 0.0, id="No range looks back nothing"),
        pytest.param("rate(x[1h30m])", 5400.0, id="A compound duration"),
    ],
)
def test_query_lookback(query: str, seconds: float) -> None:
    assert query_lookback_seconds(query) == seconds


@pytest.mark.parametrize(
    "restored_ago, verdict",
    [
        pytest.param(None, Verdict.FAIL, id="Without a restore every pair judges"),
        pytest.param(30 * 60, Verdict.INCONCLUSIVE, id="30 minutes after a restore no page pair's long window is clean: hold"),
        pytest.param(61 * 60, Verdict.FAIL, id="61 minutes after, the 5m/1h pair is judged, and it burns"),
    ],
)
def test_a_restored_template_is_judged_only_on_windows_after_the_restore(restored_ago: Optional[int], verdict: Verdict) -> None:
    since = None if restored_ago is None else NOW - restored_ago
    outcome = slo_verdict(slo(no_data="fail"), SLOReading(error_ratios=BURNING, query="q"), since=since, at=NOW)
    assert outcome.verdict is verdict
    if verdict is Verdict.INCONCLUSIVE:
        assert "restored at" in outcome.reason, "and noData: fail does not turn it into a failure"


def test_a_restored_template_without_a_sample_time_is_never_judged() -> None:
    outcome = slo_verdict(slo(), SLOReading(error_ratios=BURNING, query="q"), since=NOW - 86400, at=None)
    assert outcome.verdict is Verdict.INCONCLUSIVE


def test_a_kpi_after_a_restore_counts_only_samples_whose_range_is_after_it() -> None:
    """The KPI's query looks back 10m (its window): samples taken within 10m of the restore still hold the bad
    template's data and are dropped, so its 5m ``for`` starts 10m after the restore."""
    breached = series(*[0.01] * 20)  # 20 minutes of samples, one a minute, all beyond the critical threshold
    assert kpi_verdict(conversion(), KPIReading(samples=breached)).verdict is Verdict.FAIL
    since = NOW - 12 * 60
    outcome = kpi_verdict(conversion(no_data="fail"), KPIReading(samples=breached), since=since)
    assert outcome.verdict is Verdict.INCONCLUSIVE, "2 minutes of clean samples fill the series: not enough"
    since = NOW - 16 * 60
    assert kpi_verdict(conversion(), KPIReading(samples=breached), since=since).verdict is Verdict.FAIL
    outcome = kpi_verdict(conversion(no_data="fail"), KPIReading(samples=breached), since=NOW - 5 * 60)
    assert outcome.verdict is Verdict.INCONCLUSIVE and "restored at" in outcome.reason


def test_kpi_for_is_measured_on_sample_times_and_a_re_read_sample_is_not_new() -> None:
    kpi = conversion()
    history: list[tuple[float, Optional[float]]] = []
    for at in (100.0, 130.0, 130.0, 130.0, 160.0):
        history = kpi_history_after(history, kpi, at, 0.01)
    assert history == [(100.0, 0.01), (130.0, 0.01), (160.0, 0.01)]
    # A step of the operator's clock changes nothing: the times are Prometheus' sample times.
    assert kpi_history_after(history, kpi, 150.0, 0.5) == history


@pytest.mark.parametrize(
    "prometheus_now, disagrees",
    [
        pytest.param(1000.5, False, id="Prometheus' time between the request and the answer"),
        pytest.param(None, False, id="No sample: nothing to compare"),
        pytest.param(1000.0 - 15 * 60, True, id="The operator's clock stepped 15 minutes ahead"),
        pytest.param(1000.0 + 3600, True, id="The operator's clock stepped an hour back"),
        pytest.param(1000.0 - 59, False, id="Within the tolerance"),
    ],
)
def test_clock_disagreement(prometheus_now: Optional[float], disagrees: bool) -> None:
    reason = clock_disagreement(prometheus_now, 1000.0, 1001.0, 60.0)
    assert (reason is not None) is disagrees
    if reason is not None:
        assert "--max-clock-skew" in reason


def test_clock_and_conflict_outcomes_never_act() -> None:
    from kpi_operator.gate.verdict import clock_outcome, conflict_outcome

    assert clock_outcome("skewed.").verdict is Verdict.ERROR and "never acts" in clock_outcome("skewed.").reason
    assert conflict_outcome("two SLOs.").verdict is Verdict.INCONCLUSIVE
