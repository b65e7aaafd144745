"""The burn-rate math, checked against the numbers of the Google SRE workbook ("Alerting on SLOs")."""

from __future__ import annotations

import pytest

from kpi_operator.api import parse_object
from kpi_operator.api.durations import normalize_duration, parse_duration_seconds
from kpi_operator.rules import burn_rate_factor, window_pairs
from kpi_operator.rules.windows import period_window, recorded_windows


def slo(window: str = "30d", **alerting) -> object:
    obj, problems = parse_object(
        {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": "SLO",
            "metadata": {"name": "api", "namespace": "default"},
            "spec": {
                "service": "api",
                "owner": "team",
                "objective": 99.9,
                "window": window,
                "indicator": {"ratio": {"errors": "sum(rate(e[{{.window}}]))", "total": "sum(rate(t[{{.window}}]))"}},
                "alerting": alerting,
            },
        }
    )
    assert not problems, problems
    return obj


@pytest.mark.parametrize(
    "budget_percent, period, long_window, factor",
    [
        pytest.param(2, "30d", "1h", 14.4, id="2% of a 30d budget in 1h is a 14.4x burn"),
        pytest.param(5, "30d", "6h", 6.0, id="5% of a 30d budget in 6h is a 6x burn"),
        pytest.param(10, "30d", "1d", 3.0, id="10% of a 30d budget in 1d is a 3x burn"),
        pytest.param(10, "30d", "3d", 1.0, id="10% of a 30d budget in 3d is a 1x burn"),
        pytest.param(2, "28d", "1h", 13.44, id="2% of a 28d budget in 1h is a 13.44x burn"),
        pytest.param(5, "28d", "6h", 5.6, id="5% of a 28d budget in 6h is a 5.6x burn"),
        pytest.param(10, "28d", "1d", 2.8, id="10% of a 28d budget in 1d is a 2.8x burn"),
        pytest.param(10, "28d", "3d", 0.9333333333333333, id="10% of a 28d budget in 3d is a 0.933x burn"),
        pytest.param(100, "7d", "7d", 1.0, id="the whole budget over the whole period is a 1x burn"),
    ],
)
def test_burn_rate_factor(budget_percent: float, period: str, long_window: str, factor: float) -> None:
    assert burn_rate_factor(budget_percent, period, long_window) == pytest.approx(factor, rel=1e-12)


def test_default_windows_are_the_workbook_ones() -> None:
    pairs = window_pairs(slo())
    assert [(p.long, p.short, p.budget_percent) for p in pairs["page"]] == [("1h", "5m", 2), ("6h", "30m", 5)]
    assert [(p.long, p.short, p.budget_percent) for p in pairs["ticket"]] == [("1d", "2h", 10), ("3d", "6h", 10)]
    assert recorded_windows(slo()) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


def test_a_tier_can_be_overridden() -> None:
    pairs = window_pairs(slo(pageAlert={"windows": [{"long": "2h", "short": "10m", "budgetPercent": 4}]}))
    assert [(p.long, p.short, p.factor) for p in pairs["page"]] == [("2h", "10m", pytest.approx(14.4))]
    assert len(pairs["ticket"]) == 2


@pytest.mark.parametrize(
    "objective, burn, seconds_to_exhaust_30d",
    [
        pytest.param(99.9, 14.4, 30 * 86400 / 14.4, id="at 14.4x a 30d budget lasts 50 hours"),
        pytest.param(99.9, 1.0, 30 * 86400, id="at 1x the budget lasts exactly the period"),
    ],
)
def test_budget_exhaustion_follows_from_the_burn_rate(objective: float, burn: float, seconds_to_exhaust_30d: float) -> None:
    error_ratio = burn * (1 - objective / 100)
    budget = 1 - objective / 100
    assert (30 * 86400) * budget / error_ratio == pytest.approx(seconds_to_exhaust_30d)


def test_a_total_outage_pages_after_2_percent_of_the_budget() -> None:
    """At 99.9%, 100% errors burn 1000x; 2% of a 30d budget (51.84 s of total outage) trips the 1h/5m pair."""
    factor = burn_rate_factor(2, "30d", "1h")
    seconds_of_outage = factor * 0.001 * 3600
    assert seconds_of_outage == pytest.approx(51.84)


@pytest.mark.parametrize(
    "text, canonical, seconds",
    [("30d", "30d", 2592000), ("28d", "4w", 2419200), ("90m", "1h30m", 5400), ("1h", "1h", 3600), ("365d", "1y", 31536000)],
)
def test_durations_are_spelled_as_prometheus_spells_them(text: str, canonical: str, seconds: int) -> None:
    assert normalize_duration(text) == canonical
    assert parse_duration_seconds(text) == seconds
    assert period_window(slo(window=text)) == canonical


def test_group_names_never_collide_across_namespaces() -> None:
    """Namespace ``a-b`` / name ``c`` and namespace ``a`` / name ``b-c`` must not share a rule group."""
    from kpi_operator.rules import generate_groups

    first = slo()
    first.metadata.namespace, first.metadata.name = "a-b", "c"
    second = slo()
    second.metadata.namespace, second.metadata.name = "a", "b-c"
    names = [g["name"] for obj in (first, second) for g in generate_groups(obj)]
    assert len(names) == len(set(names))
