"""Generated alerts fire when, and only when, the burn-rate math says: Prometheus' own rule engine decides.

Every expectation below is derived from the formula in the docstring of its test, not read from the generated
rules. ``promtool test rules`` evaluates the rules over synthetic series without waiting in real time.
Annotations are stripped before the run: they do not change when an alert fires, and promtool would otherwise
require every rendered annotation to be restated.

Recording rules and alerts live in separate groups (as in the PrometheusRule), and Prometheus evaluates groups
independently, so an alert may see the recorded series one evaluation later. promtool 2.42 orders groups at
random between runs, so each "fires" check is placed one evaluation step after the moment the formula gives,
and each "not yet" check before it: a one-step lag can never flip either.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kpi_operator.api import parse_object
from kpi_operator.rules import generate_groups
from support.promtool import check_rules, requires_promtool, test_rules

pytestmark = [requires_promtool, pytest.mark.promtool]

ERRORS = 'sum(rate(http_requests_total{service="api",code=~"5.."}[{{.window}}]))'
TOTAL = 'sum(rate(http_requests_total{service="api"}[{{.window}}]))'


def slo(objective: float = 99.9, indicator: dict | None = None, schema: str = "native", **alerting: Any) -> Any:
    obj, problems = parse_object(
        {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": "SLO",
            "metadata": {"name": "api-availability", "namespace": "shop"},
            "spec": {
                "service": "api",
                "owner": "team-api",
                "objective": objective,
                "window": "30d",
                "ruleSchema": schema,
                "indicator": indicator or {"ratio": {"errors": ERRORS, "total": TOTAL}},
                "alerting": {"name": "ApiBurn", **alerting},
            },
        }
    )
    assert not problems, problems
    return obj


def rule_groups(obj: Any) -> list[dict[str, Any]]:
    groups = copy.deepcopy(generate_groups(obj))
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    ok, output = check_rules(groups)
    assert ok, output
    return groups


def run(groups: list[dict[str, Any]], interval: str, series: list[tuple[str, str]], alerts: list[tuple[str, str, list[dict]]]) -> None:
    """Each check is its own promtool run over the same series. promtool 2.42 was seen to report a firing alert
    as absent when one file held several checks (as several entries or several test cases), so none is shared."""
    inputs = [{"series": s, "values": v} for s, v in series]
    failures = []
    for at, name, expected in alerts:
        spec = {
            "evaluation_interval": interval,
            "tests": [
                {
                    "interval": interval,
                    "input_series": inputs,
                    "alert_rule_test": [
                        {"eval_time": at, "alertname": name, "exp_alerts": [{"exp_labels": labels} for labels in expected]}
                    ],
                }
            ],
        }
        ok, output = test_rules(groups, spec)
        if not ok:
            failures.append(output)
    assert not failures, "\n".join(failures)


IDENTITY = {"slo_namespace": "shop", "slo_name": "api-availability", "slo_service": "api"}
PAGE = {**IDENTITY, "severity": "critical", "slo_tier": "page"}
TICKET = {**IDENTITY, "severity": "warning", "slo_tier": "ticket"}


def test_a_total_outage_pages_within_a_minute_and_never_before() -> None:
    """99.9% over 30d: the 1h/5m pair pages when the 1h error ratio passes 14.4 x 0.001 = 0.0144.

    With steady traffic and a healthy history before, d seconds of total outage give a 1h ratio of d / 3600, so
    the page condition holds once d > 51.84 s. Samples every 15 s: 45 s of outage (0.0125) must not page, 60 s
    (0.0167) must, seen at 75 s (one evaluation step of lag allowed). The history is 7 hours so that the 6h/30m pair (6 x 0.001 over 6h: d > 129.6 s) cannot fire
    first on a half-empty 6h window. The ticket tier is off to keep the assertion on the page tier alone.
    """
    groups = rule_groups(slo(ticketAlert={"disabled": True}))
    healthy_steps = 7 * 240  # 7 hours of 15 s samples, 10 requests/s = 150 per step
    series = [
        ('http_requests_total{service="api",code="200"}', f"0+150x{healthy_steps} {150 * healthy_steps}+0x20"),
        ('http_requests_total{service="api",code="500"}', f"0+0x{healthy_steps} 150+150x19"),
    ]
    outage_start = healthy_steps * 15  # seconds; the first erroring sample is one step later
    run(
        groups,
        "15s",
        series,
        [
            (f"{outage_start}s", "ApiBurn", []),
            (f"{outage_start + 45}s", "ApiBurn", []),
            (f"{outage_start + 75}s", "ApiBurn", [PAGE]),
            (f"{outage_start + 120}s", "ApiBurn", [PAGE]),
        ],
    )


def test_a_steady_2x_burn_never_pages_but_tickets() -> None:
    """Error ratio 0.002 at 99.9% is a 2x burn: below both page factors (14.4, 6) and the 1d/2h ticket factor (3),
    above the 3d/6h ticket factor (1). So: a ticket from the first evaluations on, never a page."""
    groups = rule_groups(slo())
    steps = 8 * 60  # 8 hours of 1 m samples: 1000 requests/min, 2 of them errors
    series = [
        ('http_requests_total{service="api",code="200"}', f"0+998x{steps}"),
        ('http_requests_total{service="api",code="500"}', f"0+2x{steps}"),
    ]
    run(groups, "1m", series, [(at, "ApiBurn", [TICKET]) for at in ("10m", "1h", "4h", "8h")])


def test_a_low_traffic_slo_under_min_events_stays_silent() -> None:
    """One request every 2 minutes, all failing (a 1000x burn). Without a guard the 1h/5m pair pages at once.

    With ``minEvents: 100`` a pair may fire only when its long window saw at least 100 events: the 1h window
    holds 30, so it never fires; the 6h window reaches 100 events after 200 minutes, so the 6h/30m pair fires
    from then on (90 events at 3 h: silent; 120 at 4 h: page).
    """
    series = [
        ('http_requests_total{service="api",code="200"}', "0+0x300"),
        ('http_requests_total{service="api",code="500"}', "0+0.5x300"),
    ]
    unguarded = rule_groups(slo(ticketAlert={"disabled": True}))
    run(unguarded, "1m", series, [("10m", "ApiBurn", [PAGE])])
    guarded = rule_groups(slo(ticketAlert={"disabled": True}, minEvents=100))
    run(guarded, "1m", series, [(at, "ApiBurn", []) for at in ("10m", "1h", "2h", "3h")] + [("4h", "ApiBurn", [PAGE])])


def test_absent_data_fires_the_no_data_alert_after_its_for() -> None:
    """Data stops after the sample at 30m. The 5m rate needs two samples, so the SLI is absent from 35m on; with
    ``noData.for: 15m`` the alert is pending from 35m and fires at 50m (checked at 51m), not before."""
    groups = rule_groups(slo(noData={"for": "15m"}))
    series = [
        ('http_requests_total{service="api",code="200"}', "0+1000x30"),
        ('http_requests_total{service="api",code="500"}', "0+0x30"),
    ]
    no_data = {**IDENTITY, "severity": "warning", "slo_tier": "noData"}  # the tier by label, never by name
    run(
        groups,
        "1m",
        series,
        [("30m", "ApiBurnNoData", []), ("49m", "ApiBurnNoData", []), ("51m", "ApiBurnNoData", [no_data]), ("80m", "ApiBurnNoData", [no_data])],
    )


def test_a_kpi_below_critical_alerts_after_its_for() -> None:
    """A conversion KPI (>= 0.03, warning 0.028, critical 0.025, for 5m) drops from 0.04 to 0.02 at 31m: both
    thresholds are breached from 31m, so both alerts are pending then and fire at 36m (checked at 37m), not at 35m."""
    obj, problems = parse_object(
        {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": "KPI",
            "metadata": {"name": "checkout-conversion", "namespace": "shop"},
            "spec": {
                "owner": "team-growth",
                "query": "avg(conversion_ratio)",
                "target": {"op": ">=", "value": 0.03},
                "thresholds": {"warning": 0.028, "critical": 0.025},
                "for": "5m",
            },
        }
    )
    assert not problems, problems
    groups = rule_groups(obj)
    series = [("conversion_ratio", "0.04x30 0.02x30")]
    ident = {"kpi_namespace": "shop", "kpi_name": "checkout-conversion"}
    both = [{**ident, "severity": "warning"}, {**ident, "severity": "critical"}]
    run(groups, "1m", series, [(at, "CheckoutConversionKPIBreach", []) for at in ("30m", "31m", "35m")] + [("37m", "CheckoutConversionKPIBreach", both)])


@pytest.mark.parametrize("schema", ["native", "sloth"])
def test_a_latency_slo_pages_when_half_the_requests_are_slow(schema: str) -> None:
    """99% within 300 ms over 30d: the 1h/5m pair pages at an error ratio of 14.4 x 0.01 = 0.144.

    After seven healthy hours, half of 600 requests/min take 0.5 s. d seconds into that, the 1h ratio is
    0.5 x d / 3600, over 0.144 once d > 1036.8 s: no page at 17 min (0.142), a page at 18 min (0.15), checked at
    19 min. (The
    6h/30m pair needs 0.5 x d / 21600 > 0.06, d > 43 min, so it cannot fire first on a full 6h history.)
    """
    indicator = {"latency": {"histogram": "http_request_duration_seconds", "selector": '{service="api"}', "threshold": 0.3}}
    groups = rule_groups(slo(objective=99, indicator=indicator, schema=schema, ticketAlert={"disabled": True}))
    healthy = 7 * 60
    slow = 30
    h = "http_request_duration_seconds"

    def counter(before: int, after: int) -> str:
        return f"0+{before}x{healthy} {before * healthy + after}+{after}x{slow - 1}"

    series = [
        (f'{h}_bucket{{service="api",le="0.1"}}', counter(600, 300)),
        (f'{h}_bucket{{service="api",le="0.3"}}', counter(600, 300)),
        (f'{h}_bucket{{service="api",le="1"}}', counter(600, 600)),
        (f'{h}_bucket{{service="api",le="+Inf"}}', counter(600, 600)),
        (f'{h}_count{{service="api"}}', counter(600, 600)),
    ]
    if schema == "native":
        page = PAGE
    else:
        page = {"sloth_id": "api-api-availability", "sloth_service": "api", "sloth_slo": "api-availability", "sloth_severity": "page"}
    start = healthy
    run(
        groups,
        "1m",
        series,
        [(f"{start}m", "ApiBurn", []), (f"{start + 17}m", "ApiBurn", []), (f"{start + 19}m", "ApiBurn", [page]), (f"{start + 25}m", "ApiBurn", [page])],
    )
