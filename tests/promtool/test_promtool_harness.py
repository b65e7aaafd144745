"""The promtool helpers give Prometheus' own verdict: good rules pass, bad ones fail with promtool's message."""

from __future__ import annotations

import pytest

from support.promtool import check_rules, requires_promtool, rules_yaml, test_rules

pytestmark = [pytest.mark.promtool, requires_promtool]

# Error ratio over 5m above 10% for 2m pages. Kept tiny: it tests the helper, not the project's rules.
ALERT_GROUPS = [
    {
        "name": "tiny-slo",
        "rules": [
            {
                "record": "job:error_ratio:rate5m",
                "expr": "sum by (job) (rate(errors_total[5m])) / sum by (job) (rate(requests_total[5m]))",
            },
            {
                "alert": "HighErrorRatio",
                "expr": "job:error_ratio:rate5m > 0.1",
                "for": "2m",
                "labels": {"severity": "page"},
            },
        ],
    }
]

# 100 requests a minute throughout; no errors for the first 10 minutes, then 50 a minute (ratio 0.5).
INPUT_SERIES = [
    {"series": 'requests_total{job="api"}', "values": "0+100x30"},
    {"series": 'errors_total{job="api"}', "values": "0x9 50+50x20"},
]


def _spec(alert_tests: list[dict], expr_tests: list[dict] | None = None) -> dict:
    return {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": INPUT_SERIES,
                "alert_rule_test": alert_tests,
                "promql_expr_test": expr_tests or [],
            }
        ],
    }


def test_check_rules_accepts_a_good_group() -> None:
    ok, output = check_rules(ALERT_GROUPS)
    assert ok, output
    assert "SUCCESS: 2 rules found" in output


def test_check_rules_accepts_yaml_text_and_a_groups_document() -> None:
    assert check_rules(rules_yaml(ALERT_GROUPS))[0]
    assert check_rules({"groups": ALERT_GROUPS})[0]


def test_check_rules_rejects_a_bad_group_with_promtool_message() -> None:
    bad = [{"name": "broken", "rules": [{"record": "job:x:rate5m", "expr": "sum(rate(x_total[5m])"}]}]
    ok, output = check_rules(bad)
    assert not ok
    assert "unclosed left parenthesis" in output, output


def test_check_rules_rejects_a_duplicate_rule_as_lint_error() -> None:
    rule = {"record": "job:x:rate5m", "expr": "sum(rate(x_total[5m]))"}
    ok, output = check_rules([{"name": "dup", "rules": [rule, rule]}])
    assert not ok
    assert "job:x:rate5m" in output, output


def test_test_rules_passes_when_the_alert_fires_on_time() -> None:
    # In Prometheus 2.x a [5m] range at t holds the samples in [t-5m, t], both ends included (3.0 made the
    # start exclusive). At 10m that is 5..10m: 50 errors / 500 requests = 0.1, not above 0.1. At 11m:
    # 100 / 500 = 0.2, so the alert is pending from 11m and fires once for: 2m has passed, at 13m.
    spec = _spec(
        alert_tests=[
            {"eval_time": "10m", "alertname": "HighErrorRatio", "exp_alerts": []},
            {"eval_time": "12m", "alertname": "HighErrorRatio", "exp_alerts": []},
            {
                "eval_time": "13m",
                "alertname": "HighErrorRatio",
                "exp_alerts": [{"exp_labels": {"job": "api", "severity": "page"}}],
            },
        ],
        expr_tests=[
            {
                "expr": "job:error_ratio:rate5m",
                "eval_time": "10m",
                "exp_samples": [{"labels": 'job:error_ratio:rate5m{job="api"}', "value": 0.1}],
            },
            # From 15m on the window holds only the error period: 250 errors / 500 requests.
            {
                "expr": "job:error_ratio:rate5m",
                "eval_time": "20m",
                "exp_samples": [{"labels": 'job:error_ratio:rate5m{job="api"}', "value": 0.5}],
            },
        ],
    )
    ok, output = test_rules(ALERT_GROUPS, spec)
    assert ok, output
    assert "SUCCESS" in output


def test_test_rules_fails_when_the_expectation_is_wrong() -> None:
    # Expecting the page at 12m, one minute before for: 2m has elapsed: promtool must say it did not fire.
    spec = _spec(
        alert_tests=[
            {
                "eval_time": "12m",
                "alertname": "HighErrorRatio",
                "exp_alerts": [{"exp_labels": {"job": "api", "severity": "page"}}],
            }
        ]
    )
    ok, output = test_rules(ALERT_GROUPS, spec)
    assert not ok
    assert "FAILED" in output and "alertname: HighErrorRatio, time: 12m" in output, output
