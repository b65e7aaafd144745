"""Rule health -> the real cause on the one object whose rule fails (issue 11, items 4 and 8b), and alert tiers
read from the labels the rules set, never from a user-chosen alert name (item 8a)."""

from __future__ import annotations

from typing import Any

from kpi_operator.api import parse_object
from kpi_operator.api.status import KPIStatus
from kpi_operator.evaluation import Sample, Tracked, collect, evaluate, plan_status
from kpi_operator.evaluation.collect import ObjectSeries
from kpi_operator.evaluation.rule_health import RULE_FAILING, TOO_MANY_SERIES, RuleProblem, rule_problems
from kpi_operator.rules import generate_groups
from kpi_operator.rules.naming import SERIES_LIMIT

NOW = 1_800_000_000.0


def obj(kind: str, name: str, **spec: Any) -> Any:
    if kind == "KPI":
        body: dict[str, Any] = {"owner": "o", "query": "avg(x)", "target": {"op": ">=", "value": 1}}
    else:
        body = {"service": "api", "owner": "o", "objective": 99.9,
                "indicator": {"ratio": {"errors": "sum(rate(e[{{.window}}]))", "total": "sum(rate(t[{{.window}}]))"}}}
    parsed, problems = parse_object({"apiVersion": "kpi.dev/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": "shop"},
                                     "spec": {**body, **spec}})
    assert not problems, problems
    return parsed


def group(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "file": "f.yaml", "rules": list(rules)}


def rule(name: str, health: str = "ok", error: str = "") -> dict[str, Any]:
    return {"name": name, "health": health, "lastError": error, "type": "recording"}


def test_a_failing_rule_is_reported_on_its_object_only_with_prometheus_reason() -> None:
    big, broken, fine = obj("KPI", "big"), obj("KPI", "broken"), obj("SLO", "fine")
    sloth = obj("SLO", "legacy", ruleSchema="sloth")
    names = {o.metadata.name: [g["name"] for g in generate_groups(o)] for o in (big, broken, fine, sloth)}
    answer = [
        group(names["big"][0], rule("kpi:value", "err", f"exceeded limit of {SERIES_LIMIT} with 200000 series"), rule("kpi_operator_kpi_info")),
        group(names["broken"][0], rule("kpi:value", "err", "vector cannot contain metrics with the same labelset")),
        group(names["fine"][0], rule("slo:error_ratio:rate5m")),
        group(names["legacy"][1], rule("slo:objective:ratio", "err", "boom")),
        group("someone-elses-group", rule("x", "err", "not ours")),
    ]
    problems = rule_problems(answer, [big, broken, fine, sloth])
    assert set(problems) == {("KPI", "shop", "big"), ("KPI", "shop", "broken"), ("SLO", "shop", "legacy")}
    assert problems[("KPI", "shop", "big")].reason == TOO_MANY_SERIES
    assert "with 200000 series" in problems[("KPI", "shop", "big")].message
    assert problems[("KPI", "shop", "broken")].reason == RULE_FAILING
    assert "same labelset" in problems[("KPI", "shop", "broken")].message


def test_kpi_and_native_record_groups_carry_the_series_limit_and_sloth_groups_stay_sloth() -> None:
    for o in (obj("KPI", "k"), obj("SLO", "s")):
        records = [g for g in generate_groups(o) if any("record" in r for r in g["rules"])]
        assert records and all(g.get("limit") == SERIES_LIMIT for g in records)
    assert all("limit" not in g for g in generate_groups(obj("SLO", "l", ruleSchema="sloth")))


def test_an_object_whose_rule_fails_is_unknown_and_stalled_with_the_cause() -> None:
    kpi = obj("KPI", "big")
    problem = RuleProblem(TOO_MANY_SERIES, "exceeded limit of 1000 with 1200 series")
    evaluation = evaluate(kpi, ObjectSeries(rule_problem=problem))
    assert evaluation.state == "Unknown"
    patch = plan_status(Tracked(("KPI", "shop", "big"), KPIStatus()), evaluation, None, NOW, 1.0, problem)
    assert patch is not None
    ready = patch.condition("Ready")
    assert ready is not None and (ready.status, ready.reason, ready.message) == ("False", TOO_MANY_SERIES, problem.message)
    stalled = patch.condition("Stalled")
    assert stalled is not None and stalled.status == "True"


def alert(**labels: str) -> Sample:
    return Sample(labels={"__name__": "ALERTS", "alertstate": "firing", **labels}, value=1.0)


def test_an_alert_name_ending_in_nodata_is_not_read_as_the_nodata_tier() -> None:
    slo = obj("SLO", "api", alerting={"name": "CheckoutNoData"})
    labels = {"slo_namespace": "shop", "slo_name": "api", "slo_service": "api"}
    series = collect([slo], [], [], [alert(alertname="CheckoutNoData", slo_tier="page", **labels)], NOW, 60)
    assert series[("SLO", "shop", "api")].firing == {"page"}
    assert evaluate(slo, series[("SLO", "shop", "api")]).alerts == ["page"]


def test_the_nodata_alerts_carry_their_tier_as_a_label_in_both_schemas() -> None:
    for schema in ("native", "sloth"):
        slo = obj("SLO", "api", ruleSchema=schema, alerting={"noData": {"for": "10m"}})
        alerts = [r for g in generate_groups(slo) for r in g["rules"] if r.get("alert", "").endswith("NoData")]
        assert len(alerts) == 1 and alerts[0]["labels"]["slo_tier"] == "noData", schema
        labels = {k: v for k, v in alerts[0]["labels"].items()}
        series = collect([slo], [], [], [alert(alertname="Renamed", **labels)], NOW, 60)
        assert series[("SLO", "shop", "api")].firing == {"noData"}, schema


def test_a_huge_annotation_is_refused_naming_the_field_before_the_api_server_would() -> None:
    from kpi_operator.rules import RULE_SIZE_LIMIT, SchemaError

    huge = obj("KPI", "k", annotations={"runbook": "x" * (RULE_SIZE_LIMIT // 2)}, thresholds={"warning": 0.9, "critical": 0.5})
    try:
        generate_groups(huge)
    except SchemaError as error:
        assert error.path == "spec.annotations.runbook"
        assert "KiB" in error.message
    else:
        raise AssertionError("a PrometheusRule of twice the size limit was generated")
    assert generate_groups(obj("KPI", "k", annotations={"runbook": "https://runbooks/k"}))
