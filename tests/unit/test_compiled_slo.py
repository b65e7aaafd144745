"""The compiled form of an SLO or KPI: derived once per parsed model, and what the old window readers return."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from kpi_operator.api import parse_object
from kpi_operator.rules import compiled as compiled_module
from kpi_operator.rules.compiled import compile_kpi, compile_slo
from kpi_operator.rules.windows import period_window, recorded_windows, window_pairs


def slo(window: str = "30d", objective: float = 99.9, **alerting: Any) -> Any:
    obj, problems = parse_object(
        {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": "SLO",
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {
                "service": "api",
                "owner": "o",
                "objective": objective,
                "window": window,
                "indicator": {"ratio": {"errors": "sum(rate(e[{{.window}}]))", "total": "sum(rate(t[{{.window}}]))"}},
                "alerting": alerting,
            },
        }
    )
    assert not problems, problems
    return obj


def kpi(**spec: Any) -> Any:
    obj, problems = parse_object(
        {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": "KPI",
            "metadata": {"name": "conversion", "namespace": "shop"},
            "spec": {"owner": "o", "query": "avg(x)", "target": {"op": ">=", "value": 0.5}, **spec},
        }
    )
    assert not problems, problems
    return obj


@pytest.mark.parametrize(
    "window, period, seconds, days",
    [
        pytest.param("30d", "30d", 2592000.0, 30.0, id="a 30d period stays 30d"),
        pytest.param("28d", "4w", 2419200.0, 28.0, id="a 28d period is spelled 4w, as Prometheus spells it"),
        pytest.param("7d", "1w", 604800.0, 7.0, id="a 7d period is spelled 1w"),
    ],
)
def test_the_period_is_normalized_and_measured(window: str, period: str, seconds: float, days: float) -> None:
    compiled = compile_slo(slo(window=window))
    assert (compiled.period, compiled.period_seconds, compiled.period_days) == (period, seconds, days)


def test_the_budget_is_the_expression_the_rules_always_printed() -> None:
    compiled = compile_slo(slo(objective=99.9))
    assert compiled.error_budget == (100 - 99.9) / 100
    assert compiled.objective_ratio == 99.9 / 100


def test_the_recorded_windows_are_shortest_first_each_once_then_the_period() -> None:
    compiled = compile_slo(slo())
    assert compiled.recorded_windows == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    assert compiled.windows_with_period == ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")
    assert compiled.shortest_window == "5m"
    assert not compiled.period_is_recorded


def test_a_period_equal_to_a_long_window_is_listed_once() -> None:
    compiled = compile_slo(slo(window="3d"))
    assert compiled.windows_with_period == compiled.recorded_windows
    assert compiled.period_is_recorded


def test_every_window_has_its_seconds_and_record_names() -> None:
    compiled = compile_slo(slo(window="28d"))
    assert compiled.window_seconds["1h"] == 3600.0
    assert compiled.window_seconds["4w"] == 2419200.0
    assert compiled.native_records["1h"].error_ratio == "slo:error_ratio:rate1h"
    assert compiled.native_records["4w"].total_events == "slo:total_events:rate4w"
    assert compiled.native_records["5m"].error_events == "slo:error_events:rate5m"
    assert compiled.sloth_records["4w"] == "slo:sli_error:ratio_rate4w"
    assert set(compiled.window_seconds) == set(compiled.native_records) == set(compiled.sloth_records) == set(compiled.windows_with_period)


def test_a_disabled_tier_keeps_its_pairs_and_says_it_is_disabled() -> None:
    compiled = compile_slo(slo(ticketAlert={"disabled": True}))
    assert [(tier.tier, tier.disabled, len(tier.pairs)) for tier in compiled.tiers] == [("page", False, 2), ("ticket", True, 2)]
    assert [tier.tier for tier in compiled.enabled_tiers()] == ["page"]
    assert "1d" in compiled.recorded_windows


def test_overridden_windows_are_spelled_as_prometheus_spells_them() -> None:
    compiled = compile_slo(slo(pageAlert={"windows": [{"long": "60m", "short": "300s", "budgetPercent": 2}]}))
    (pair,) = compiled.tiers[0].pairs
    assert (pair.long, pair.short, pair.factor) == ("1h", "5m", pytest.approx(14.4))


def test_a_second_compile_of_the_same_model_is_the_same_object() -> None:
    obj = slo()
    assert compile_slo(obj) is compile_slo(obj)


def test_equal_models_are_compiled_separately() -> None:
    first, second = slo(), slo()
    assert compile_slo(first) is not compile_slo(second)
    assert compile_slo(first) == compile_slo(second)


def test_the_memo_forgets_a_model_that_is_gone() -> None:
    entries = compiled_module._COMPILED_SLOS._entries
    obj = slo(window="14d")
    compile_slo(obj)
    key = id(obj)
    assert key in entries
    del obj
    gc.collect()
    assert key not in entries


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: slo(), id="the readers agree with the compiled form of a default SLO"),
        pytest.param(lambda: slo(window="28d", ticketAlert={"disabled": True}), id="the readers agree with a 28d SLO without tickets"),
        pytest.param(
            lambda: slo(pageAlert={"windows": [{"long": "2h", "short": "10m", "budgetPercent": 4}]}),
            id="the readers agree with an SLO with its own page windows",
        ),
    ],
)
def test_the_window_readers_return_the_compiled_form(make: Any) -> None:
    obj = make()
    compiled = compile_slo(obj)
    assert period_window(obj) == compiled.period
    assert recorded_windows(obj) == list(compiled.recorded_windows)
    assert window_pairs(obj) == {tier.tier: list(tier.pairs) for tier in compiled.tiers}
    assert window_pairs(obj, include_disabled=False) == {tier.tier: list(tier.pairs) for tier in compiled.enabled_tiers()}


@pytest.mark.parametrize(
    "spec, alert_for, for_seconds",
    [
        pytest.param({}, None, 0.0, id="a KPI without for alerts at once"),
        pytest.param({"for": "0"}, None, 0.0, id="for 0 alerts at once"),
        pytest.param({"for": "10m"}, "10m", 600.0, id="for 10m waits ten minutes"),
    ],
)
def test_a_kpi_compiles_its_durations(spec: dict[str, Any], alert_for: Any, for_seconds: float) -> None:
    obj = kpi(window="5m", **spec)
    compiled = compile_kpi(obj)
    assert (compiled.window, compiled.window_seconds, compiled.alert_for, compiled.for_seconds) == ("5m", 300.0, alert_for, for_seconds)
    assert compile_kpi(obj) is compiled
