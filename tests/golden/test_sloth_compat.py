"""Sloth compatibility: SLO objects equivalent to Sloth's inputs give Sloth's golden output with ``--rule-schema sloth``.

The SLO objects below are written by hand from Sloth's ``in-base.yaml`` (a person migrating would write the same);
the expected rules are Sloth's own goldens from ``../shared/anchors/sloth``. ``sloth_mode``, ``sloth_spec`` and
``sloth_version`` on ``sloth_slo_info`` describe the generating tool, not the SLO, and are compared aside.
"""

from __future__ import annotations

import pytest
import yaml

from kpi_operator.api import parse_object
from kpi_operator.rules import generate_groups
from support.anchors import anchor, render_sloth_golden
from support.rule_compare import diff_groups

TOOL_LABELS = ("sloth_mode", "sloth_spec", "sloth_version")

ERRORS = 'sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))'
TOTAL = 'sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))'
RAW = (
    'sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))\n'
    "/\n"
    'sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))\n'
)


def base_slos(window: str) -> list[dict]:
    """Sloth's in-base.yaml as two kpi.dev SLO objects."""
    return [
        {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": "SLO",
            "metadata": {"name": "slo1", "namespace": "test-ns"},
            "spec": {
                "service": "svc01",
                "owner": "team-svc01",
                "description": "This is SLO 01.",
                "objective": 99.9,
                "window": window,
                "labels": {"global01k1": "global01v1", "global02k1": "global02v1"},
                "indicator": {"ratio": {"errors": ERRORS, "total": TOTAL}},
                "alerting": {
                    "name": "myServiceAlert",
                    "labels": {"alert01k1": "alert01v1"},
                    "annotations": {"alert02k1": "alert02k2"},
                    "pageAlert": {"labels": {"alert03k1": "alert03v1"}},
                    "ticketAlert": {"labels": {"alert04k1": "alert04v1"}},
                },
            },
        },
        {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": "SLO",
            "metadata": {"name": "slo02", "namespace": "test-ns"},
            "spec": {
                "service": "svc01",
                "owner": "team-svc01",
                "description": "This is SLO 02.",
                "objective": 95,
                "window": window,
                "labels": {"global01k1": "global01v1", "global03k1": "global03v1"},
                "indicator": {"raw": {"errorRatio": RAW}},
                "alerting": {"pageAlert": {"disabled": True}, "ticketAlert": {"disabled": True}},
            },
        },
    ]


def generate_all(bodies: list[dict]) -> list[dict]:
    groups = []
    for body in bodies:
        obj, problems = parse_object(body)
        assert not problems, problems
        groups.extend(generate_groups(obj, "sloth"))
    return groups


def golden_groups(relative: str) -> list[dict]:
    text = render_sloth_golden(anchor(relative).read_text())
    document = yaml.safe_load(text)
    return document["spec"]["groups"] if document.get("kind") == "PrometheusRule" else document["groups"]


@pytest.mark.parametrize(
    "golden, window",
    [
        pytest.param("sloth/test/integration/prometheus/testdata/out-base.yaml.tpl", "30d", id="Sloth's base spec at the default 30d period gives Sloth's rules"),
        pytest.param("sloth/test/integration/prometheus/testdata/out-base-28d.yaml.tpl", "28d", id="Sloth's base spec at a 28d period gives Sloth's rules (factors 13.44, 5.6, 2.8, 0.933)"),
        pytest.param("sloth/test/integration/prometheus/testdata/out-base-k8s.yaml.tpl", "30d", id="Sloth's Kubernetes CR gives the groups of Sloth's PrometheusRule"),
    ],
)
def test_sloth_schema_equals_sloth_golden(golden: str, window: str) -> None:
    problems = diff_groups(generate_all(base_slos(window)), golden_groups(golden), ignore_labels=TOOL_LABELS)
    assert not problems, "\n".join(problems)


def test_disabled_alerts_give_no_alert_group() -> None:
    slos = base_slos("30d")
    slos[0]["spec"]["alerting"]["pageAlert"]["disabled"] = True
    slos[0]["spec"]["alerting"]["ticketAlert"]["disabled"] = True
    problems = diff_groups(
        generate_all(slos), golden_groups("sloth/test/integration/prometheus/testdata/out-base-no-alerts.yaml.tpl"), ignore_labels=TOOL_LABELS
    )
    assert not problems, "\n".join(problems)
