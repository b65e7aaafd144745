"""Samples -> status: mapping series back to objects, budget math, states, freshness and change detection."""

from __future__ import annotations

import math
from typing import Any

import pytest

from kpi_operator.api import parse_object
from kpi_operator.api.status import SLOStatus
from kpi_operator.evaluation import Sample, changed, collect, evaluate, kpi_state
from kpi_operator.evaluation.queries import SERIES_LABEL

NOW = 1_800_000_000.0


def slo(name: str = "api", namespace: str = "shop", **spec: Any) -> Any:
    obj, problems = parse_object(
        {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": "SLO",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "service": "api",
                "owner": "o",
                "objective": 99.9,
                "indicator": {"ratio": {"errors": "sum(rate(e[{{.window}}]))", "total": "sum(rate(t[{{.window}}]))"}},
                **spec,
            },
        }
    )
    assert not problems, problems
    return obj


def kpi(op: str = ">=", target: float = 0.03, thresholds: dict | None = None) -> Any:
    spec: dict[str, Any] = {"owner": "o", "query": "avg(x)", "target": {"op": op, "value": target}}
    if thresholds:
        spec["thresholds"] = thresholds
    obj, problems = parse_object({"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "metadata": {"name": "conv", "namespace": "shop"}, "spec": spec})
    assert not problems, problems
    return obj


def ratio(window: str, value: float, name: str = "api", namespace: str = "shop", **labels: str) -> Sample:
    return Sample({"__name__": f"slo:error_ratio:rate{window}", "slo_namespace": namespace, "slo_name": name, "slo_service": "api", **labels}, value)


def test_series_map_back_to_their_own_slo_only() -> None:
    a, b = slo("a"), slo("a", namespace="other")
    series = collect([a, b], [ratio("5m", 0.01, name="a"), ratio("5m", 0.5, name="a", namespace="other")], [], [], NOW, 300)
    assert series[("SLO", "shop", "a")].error_ratios == {"5m": [0.01]}
    assert series[("SLO", "other", "a")].error_ratios == {"5m": [0.5]}


def test_burn_rates_sli_and_budget_follow_from_the_error_ratios() -> None:
    obj = slo()
    values = [ratio("5m", 0.0144), ratio("1h", 0.0144), ratio("30d", 0.0005)]
    result = evaluate(obj, collect([obj], values, [], [], NOW, 300)[("SLO", "shop", "api")]).to_patch()
    assert result["burnRates"] == {"5m": 14.4, "1h": 14.4, "30d": 0.5}
    assert result["sli"] == pytest.approx(99.95)
    assert result["errorBudget"] == {"total": 0.001, "remaining": 0.5}
    assert result["state"] == "Healthy"
    # Half the budget left, burning 14.4x over 1h: 0.5 x 30d / 14.4 = 25 hours.
    assert result["exhaustionEstimate"] == "1d1h"


@pytest.mark.parametrize(
    "alerts, remaining_ratio, state",
    [
        pytest.param([], 0.0005, "Healthy", id="No alert and budget left is Healthy"),
        pytest.param([{"slo_tier": "ticket"}], 0.0005, "Warning", id="A ticket alert is Warning"),
        pytest.param([{"slo_tier": "page"}], 0.0005, "Critical", id="A page alert is Critical"),
        pytest.param([], 0.002, "Critical", id="A spent budget is Critical"),
    ],
)
def test_slo_state(alerts: list[dict], remaining_ratio: float, state: str) -> None:
    obj = slo()
    firing = [Sample({"alertname": "ApiBurn", "slo_namespace": "shop", "slo_name": "api", **a}, 1) for a in alerts]
    series = collect([obj], [ratio("5m", 0.001), ratio("30d", remaining_ratio)], [], firing, NOW, 300)
    assert evaluate(obj, series[("SLO", "shop", "api")]).state == state


def test_no_series_is_no_data() -> None:
    obj = slo()
    result = evaluate(obj, collect([obj], [], [], [], NOW, 300)[("SLO", "shop", "api")]).to_patch()
    assert result["state"] == "NoData" and result["burnRates"] == {} and result["sli"] is None


def test_samples_older_than_the_freshness_bound_are_no_data() -> None:
    obj = slo()
    stale = ratio("5m", 0.01)
    stamp = Sample({**{k: v for k, v in stale.labels.items() if k != "__name__"}, SERIES_LABEL: stale.labels["__name__"]}, NOW - 301)
    series = collect([obj], [stale], [stamp], [], NOW, 300)
    assert series[("SLO", "shop", "api")].error_ratios == {}


def test_a_grouped_slo_reports_its_worst_group() -> None:
    obj = slo()
    values = [ratio("5m", 0.001, route="/a"), ratio("5m", 0.02, route="/b"), ratio("5m", math.nan, route="/c")]
    result = evaluate(obj, collect([obj], values, [], [], NOW, 300)[("SLO", "shop", "api")])
    assert result.burn_rates["5m"] == 20.0


def test_sloth_schema_series_map_by_service_and_name() -> None:
    obj = slo(ruleSchema="sloth")
    sample = Sample({"__name__": "slo:sli_error:ratio_rate1h", "sloth_service": "api", "sloth_slo": "api", "sloth_window": "1h"}, 0.002)
    assert collect([obj], [sample], [], [], NOW, 300)[("SLO", "shop", "api")].error_ratios == {"1h": [0.002]}


@pytest.mark.parametrize(
    "op, target, thresholds, value, state",
    [
        pytest.param(">=", 0.03, {"warning": 0.028, "critical": 0.025}, 0.04, "Healthy", id="Above the target is Healthy"),
        pytest.param(">=", 0.03, {"warning": 0.028, "critical": 0.025}, 0.029, "Warning", id="Below the target, above warning is Warning"),
        pytest.param(">=", 0.03, {"warning": 0.028, "critical": 0.025}, 0.027, "Warning", id="Below warning is Warning"),
        pytest.param(">=", 0.03, {"warning": 0.028, "critical": 0.025}, 0.024, "Critical", id="Below critical is Critical"),
        pytest.param(">=", 0.03, {"warning": 0.028, "critical": 0.025}, 0.025, "Warning", id="Exactly at critical is not yet Critical, as the alert rule"),
        pytest.param("<=", 0.5, None, 0.6, "Critical", id="Without thresholds the target is the critical line"),
        pytest.param("<=", 0.5, None, 0.5, "Healthy", id="At the target with <= is Healthy"),
        pytest.param("<", 0.5, None, 0.5, "Critical", id="At the target with < is a breach"),
    ],
)
def test_kpi_state(op: str, target: float, thresholds: dict | None, value: float, state: str) -> None:
    assert kpi_state(kpi(op, target, thresholds), value) == state


def status(**fields: Any) -> SLOStatus:
    return SLOStatus.model_validate(fields)


def test_a_status_is_rewritten_only_when_what_it_says_changes() -> None:
    current = status(state="Healthy", burnRates={"5m": 1.0}, lastEvaluated="old")
    assert not changed(current, status(state="Healthy", burnRates={"5m": 1.0}))
    assert changed(current, status(state="Warning", burnRates={"5m": 1.0}))
    assert changed(current, status(state="Healthy", burnRates={"5m": 3.0}))
    # Scrape-to-scrape jitter of a live ratio is not a change a person needs to see.
    assert not changed(status(burnRates={"5m": 10.0}, sli=99.0123), status(burnRates={"5m": 10.16}, sli=99.0127))
    assert changed(status(burnRates={"5m": 10.0}), status(burnRates={"5m": 10.0, "1h": 2.0}))


def test_sloth_series_go_only_to_sloth_schema_slos_not_to_a_native_namesake_elsewhere() -> None:
    sloth_slo, native_slo = slo(ruleSchema="sloth"), slo(namespace="other")
    sample = Sample({"__name__": "slo:sli_error:ratio_rate1h", "sloth_service": "api", "sloth_slo": "api", "sloth_window": "1h"}, 0.5)
    series = collect([sloth_slo, native_slo], [sample], [], [], NOW, 300)
    assert series[("SLO", "shop", "api")].error_ratios == {"1h": [0.5]}
    assert series[("SLO", "other", "api")].error_ratios == {}
    by_default = collect([slo(namespace="other")], [sample], [], [], NOW, 300, default_schema="sloth")
    assert by_default[("SLO", "other", "api")].error_ratios == {"1h": [0.5]}


def test_the_newest_fresh_sample_time_is_the_objects_evidence_time() -> None:
    obj = slo()
    fresh, older = ratio("5m", 0.01), ratio("1h", 0.01)
    stale = ratio("30m", 0.01)

    def stamp(sample: Sample, at: float) -> Sample:
        labels = {k: v for k, v in sample.labels.items() if k != "__name__"}
        return Sample({**labels, SERIES_LABEL: sample.labels["__name__"]}, at)

    stamps = [stamp(fresh, NOW - 5), stamp(older, NOW - 65), stamp(stale, NOW - 900)]
    series = collect([obj], [fresh, older, stale], stamps, [], NOW, 300)[("SLO", "shop", "api")]
    assert series.sampled_at == NOW - 5
    assert collect([obj], [], [], [], NOW, 300)[("SLO", "shop", "api")].sampled_at is None


def test_two_sloth_schema_slos_with_one_service_and_name_get_neither_series_and_a_conflict() -> None:
    """Sloth's series carry no namespace: an SLO in namespace evil must never move the gate of one in shop."""
    shop, evil = slo(ruleSchema="sloth"), slo(namespace="evil", ruleSchema="sloth")
    sample = Sample({"__name__": "slo:sli_error:ratio_rate1h", "sloth_service": "api", "sloth_slo": "api", "sloth_window": "1h"}, 0.5)
    series = collect([shop, evil], [sample], [], [], NOW, 300)
    for key, other in ((("SLO", "shop", "api"), "evil/api"), (("SLO", "evil", "api"), "shop/api")):
        assert series[key].error_ratios == {}
        assert series[key].conflict is not None and other in series[key].conflict


def test_the_constant_records_tell_that_the_rules_are_evaluated() -> None:
    obj = slo()
    objective = Sample({"__name__": "slo:objective:ratio", "slo_namespace": "shop", "slo_name": "api"}, 0.999)
    assert collect([obj], [objective], [], [], NOW, 300)[("SLO", "shop", "api")].rules_evaluated
    assert not collect([obj], [], [], [], NOW, 300)[("SLO", "shop", "api")].rules_evaluated
