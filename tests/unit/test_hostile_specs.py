"""Bounds on what one spec can make the operator do: query length and nesting before the PromQL parser sees it,
alert templates that Prometheus would refuse, and ``{{ query }}`` in templates without the operator's consent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpi_operator.api import parse_object
from kpi_operator.api.go_template import check_template
from kpi_operator.api.promql import MAX_NESTING, MAX_OPERATORS, MAX_QUERY_LENGTH, check_limits, check_promql
from kpi_operator.reconcile import plan_reconcile

NOW = "2026-01-01T00:00:00Z"


def kpi(query: str = "avg(checkout_conversion_ratio)", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "KPI",
        "metadata": {"name": "conversion", "namespace": "shop", "generation": 1, "uid": "u1"},
        "spec": {"owner": "team", "query": query, "target": {"op": ">=", "value": 0.03}, "annotations": annotations or {}},
    }


def slo(alerting: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": "checkout", "namespace": "shop", "generation": 1, "uid": "u2"},
        "spec": {
            "service": "checkout",
            "owner": "team",
            "objective": 99.9,
            "indicator": {"raw": {"errorRatio": "1 - avg_over_time(probe_success[{{.window}}])"}},
            "alerting": alerting,
        },
    }


def problems(body: dict[str, Any]) -> list[str]:
    return [str(p) for p in parse_object(body)[1]]


@pytest.mark.parametrize(
    "query, field_message",
    [
        ("(" * 20000 + "up" + ")" * 20000, "spec.query: String should have at most 8192 characters"),
        ("(" * (MAX_NESTING + 1) + "up" + ")" * (MAX_NESTING + 1), f"spec.query: the query nests brackets more than {MAX_NESTING} deep"),
        ("up + " * (MAX_OPERATORS + 1) + "up", f"spec.query: the query has more than {MAX_OPERATORS} binary operators"),
    ],
    ids=["20,000 parentheses (40 KB)", "65 levels", "257 operators"],
)
def test_a_query_over_the_limits_is_refused_naming_the_field(query: str, field_message: str) -> None:
    found = problems(kpi(query))
    assert any(p.startswith(field_message) for p in found), found


def test_queries_at_the_limits_pass_and_brackets_in_strings_do_not_count() -> None:
    at_depth = "(" * MAX_NESTING + "up" + ")" * MAX_NESTING
    assert check_promql(at_depth) is None
    assert check_promql("up + " * MAX_OPERATORS + "up") is None
    assert check_limits('up{path="' + "(" * 500 + '"}') is None
    assert check_limits("up # " + "(" * 500) is None
    assert check_limits("x" * (MAX_QUERY_LENGTH + 1)) is not None


def test_a_deep_latency_selector_is_refused_naming_the_field() -> None:
    body = slo({})
    body["spec"]["indicator"] = {"latency": {"histogram": "h", "threshold": 0.3, "selector": "{" * 100 + "}" * 100}}
    assert any(p.startswith("spec.indicator.latency.selector: the query nests") for p in problems(body)), problems(body)


@pytest.mark.parametrize(
    "alerting, field",
    [
        ({"annotations": {"summary": "budget {{ burning"}}, "spec.alerting.annotations.summary"),
        ({"labels": {"team": "{{ end }}"}}, "spec.alerting.labels.team"),
        ({"pageAlert": {"annotations": {"x": "{{ if true }}"}}}, "spec.alerting.pageAlert.annotations.x"),
        ({"ticketAlert": {"labels": {"x": "{{ $nope }}"}}}, "spec.alerting.ticketAlert.labels.x"),
        ({"noData": {"for": "5m", "annotations": {"x": "{{ $labels. }}"}}}, "spec.alerting.noData.annotations.x"),
    ],
)
def test_an_alert_template_that_does_not_parse_is_refused_naming_the_field(alerting: dict[str, Any], field: str) -> None:
    found = problems(slo(alerting))
    assert any(p.startswith(f"{field}: invalid Go template: ") for p in found), found


def test_kpi_annotations_are_templates_and_its_labels_are_data() -> None:
    assert any(p.startswith("spec.annotations.summary: invalid Go template: unclosed action") for p in problems(kpi(annotations={"summary": "{{"})))
    body = kpi()
    body["spec"]["labels"] = {"team": "a{{b"}  # escaped by the generator, never a template
    assert problems(body) == []


def test_unclosed_action_message() -> None:
    assert check_template("{{") == "invalid Go template: unclosed action"
    assert check_template("a }} b") is None


def test_a_query_in_a_template_is_stalled_unless_the_operator_allows_it() -> None:
    body = kpi(annotations={"value": '{{ with query "up" }}{{ . | first | value }}{{ end }}'})
    plan = plan_reconcile(body, "native", NOW)
    assert plan.rule is None
    stalled = next(c for c in plan.status.conditions if c.type == "Stalled")
    assert stalled.reason == "TemplateQueryRefused"
    assert "spec.annotations.value" in stalled.message and "--allow-template-queries" in stalled.message
    allowed = plan_reconcile(body, "native", NOW, allow_template_queries=True)
    assert allowed.rule is not None


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kpi_operator.cli", *args], capture_output=True, text=True, timeout=120, check=False)


def test_validate_reports_the_20000_parenthesis_query_without_crashing(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(yaml.safe_dump(kpi("(" * 20000 + "up" + ")" * 20000)))
    result = run_cli("validate", "-f", str(path))
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert f"{path}: document 1 (KPI/conversion): spec.query: String should have at most 8192 characters" in result.stderr


def test_validate_refuses_a_template_query_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "query.yaml"
    path.write_text(yaml.safe_dump(kpi(annotations={"v": '{{ query "up" | first | value }}'})))
    refused = run_cli("validate", "-f", str(path))
    assert refused.returncode == 1 and "spec.annotations.v: uses the template function query" in refused.stderr, refused.stderr
    assert run_cli("validate", "--allow-template-queries", "-f", str(path)).returncode == 0
