"""The importers field by field: what each source field becomes, and every refusal naming its source field."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from kpi_operator.api import parse_object
from kpi_operator.interop import ImportOptions, ImportProblem, detect_format, import_document, import_documents, split_documents
from kpi_operator.interop.window_template import template_window

WINDOW = "{{.window}}"


def sloth_file(**slo: Any) -> dict[str, Any]:
    base = {
        "name": "availability",
        "objective": 99.5,
        "sli": {"events": {"error_query": f'sum(rate(x{{code="5xx"}}[{WINDOW}]))', "total_query": f"sum(rate(x[{WINDOW}]))"}},
        "alerting": {"name": "Burn"},
    }
    base.update(slo)
    return {"version": "prometheus/v1", "service": "api", "labels": {"team": "core"}, "slos": [base]}


def openslo_v1(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "service": "api",
        "indicator": {
            "metadata": {"name": "api-errors"},
            "spec": {
                "ratioMetric": {
                    "counter": True,
                    "bad": {"metricSource": {"type": "Prometheus", "spec": {"query": 'sum(rate(x{code="5xx"}[5m]))'}}},
                    "total": {"metricSource": {"type": "Prometheus", "spec": {"query": "sum(rate(x[5m]))"}}},
                }
            },
        },
        "timeWindow": [{"duration": "28d", "isRolling": True}],
        "budgetingMethod": "Occurrences",
        "objectives": [{"target": 0.995}],
    }
    base.update(spec)
    return {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "api-availability", "labels": {"team": ["core"]}}, "spec": base}


def pyrra(indicator: dict[str, Any], **spec: Any) -> dict[str, Any]:
    base = {"target": "99.5", "window": "28d", "indicator": indicator}
    base.update(spec)
    return {"apiVersion": "pyrra.dev/v1alpha1", "kind": "ServiceLevelObjective", "metadata": {"name": "api", "namespace": "web"}, "spec": base}


def openslo_v1alpha(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "service": "api",
        "budgetingMethod": "Occurrences",
        "timeWindows": [{"count": 4, "unit": "Week", "isRolling": True}],
        "objectives": [
            {
                "target": 0.99,
                "ratioMetrics": {
                    "good": {"source": "prometheus", "queryType": "promql", "query": 'sum(rate(x{code!="5xx"}[1m]))'},
                    "total": {"source": "prometheus", "queryType": "promql", "query": "sum(rate(x[1m]))"},
                },
            }
        ],
    }
    base.update(spec)
    return {"apiVersion": "openslo/v1alpha", "kind": "SLO", "metadata": {"name": "api"}, "spec": base}


RATIO = {"ratio": {"errors": {"metric": 'http_requests_total{job="api",code=~"5.."}'}, "total": {"metric": 'http_requests_total{job="api"}'}}}


def only(document: dict[str, Any], **options: Any) -> dict[str, Any]:
    """The one object a document imports to, validated."""
    (body,) = import_document(document, options=ImportOptions(**options))
    obj, problems = parse_object(body)
    assert not problems, problems
    return body


# --- mappings ---------------------------------------------------------------------------------------------------


def test_sloth_fields_map_one_to_one() -> None:
    body = only(sloth_file(labels={"tier": "1"}, alerting={"name": "Burn", "page_alert": {"disable": True}, "ticket_alert": {"labels": {"severity": "slack"}}}))
    spec = body["spec"]
    assert body["metadata"]["name"] == "availability" and body["metadata"]["namespace"] == "default"
    assert spec["service"] == "api" and spec["owner"] == "core" and spec["objective"] == 99.5 and spec["window"] == "30d"
    assert spec["labels"] == {"team": "core", "tier": "1"}
    assert spec["indicator"] == {"ratio": {"errors": f'sum(rate(x{{code="5xx"}}[{WINDOW}]))', "total": f"sum(rate(x[{WINDOW}]))"}}
    assert spec["alerting"] == {"name": "Burn", "pageAlert": {"disabled": True}, "ticketAlert": {"labels": {"severity": "slack"}}}


def test_without_owner_or_team_label_the_owner_is_a_noted_placeholder_or_the_option() -> None:
    document = sloth_file()
    del document["labels"]
    body = only(document)
    assert body["spec"]["owner"] == "unknown"
    assert "spec.owner" in body["metadata"]["annotations"]["kpi.dev/import-notes"]
    assert only(document, owner="team-x")["spec"]["owner"] == "team-x"


def test_openslo_v1_bad_over_total_becomes_a_ratio_with_the_literal_range_templated() -> None:
    body = only(openslo_v1())
    assert body["metadata"]["name"] == "api-availability", "one objective keeps the SLO's name"
    assert body["spec"]["indicator"] == {"ratio": {"errors": f'sum(rate(x{{code="5xx"}}[{WINDOW}]))', "total": f"sum(rate(x[{WINDOW}]))"}}
    assert body["spec"]["objective"] == 99.5 and body["spec"]["window"] == "28d" and body["spec"]["owner"] == "core"
    assert body["spec"]["alerting"] == {"pageAlert": {"disabled": True}, "ticketAlert": {"disabled": True}}


def test_openslo_v1_good_over_total_keeps_event_counts() -> None:
    document = openslo_v1()
    ratio = document["spec"]["indicator"]["spec"]["ratioMetric"]
    ratio["good"] = ratio.pop("bad")
    ratio["good"]["metricSource"]["spec"]["query"] = 'sum(rate(x{code!="5xx"}[5m]))'
    assert only(document)["spec"]["indicator"]["ratio"]["errors"] == f"(sum(rate(x[{WINDOW}])))\n-\n(sum(rate(x{{code!=\"5xx\"}}[{WINDOW}])))"


def test_openslo_v1_several_objectives_give_one_slo_each_and_alert_policies_keep_default_alerts() -> None:
    document = openslo_v1(objectives=[{"target": 0.99}, {"targetPercent": 99.9}], alertPolicies=[{"alertPolicyRef": "page"}])
    bodies = import_document(document)
    assert [(b["metadata"]["name"], b["spec"]["objective"]) for b in bodies] == [("api-availability-0", 99), ("api-availability-1", 99.9)]
    assert all("alerting" not in b["spec"] for b in bodies)


def test_openslo_v1_indicator_ref_resolves_across_documents() -> None:
    slo = openslo_v1()
    sli_spec = slo["spec"].pop("indicator")["spec"]
    slo["spec"]["indicatorRef"] = "api-errors"
    sli = {"apiVersion": "openslo/v1", "kind": "SLI", "metadata": {"name": "api-errors"}, "spec": sli_spec}
    outcomes = import_documents(split_documents("in.yaml", [[slo, sli]]))
    assert [o.problem for o in outcomes] == [None, None]
    assert outcomes[0].objects[0]["spec"]["indicator"]["ratio"]["total"] == f"sum(rate(x[{WINDOW}]))"
    assert outcomes[1].objects == [], "an SLI produces nothing on its own"


def test_openslo_threshold_metric_becomes_a_kpi_that_remembers_target_and_window() -> None:
    document = openslo_v1(
        indicator={"metadata": {"name": "lag"}, "spec": {"thresholdMetric": {"metricSource": {"type": "prometheus", "spec": {"query": "max(lag)"}}}}},
        objectives=[{"op": "lte", "value": 100, "target": 0.99}],
    )
    body = only(document)
    assert body["kind"] == "KPI"
    assert body["spec"]["query"] == "max(lag)" and body["spec"]["target"] == {"op": "<=", "value": 100}
    annotations = body["metadata"]["annotations"]
    assert (annotations["kpi.dev/openslo-target"], annotations["kpi.dev/openslo-time-window"], annotations["kpi.dev/openslo-service"]) == ("0.99", "28d", "api")


def test_openslo_labels_join_lists_and_rename_keys_prometheus_cannot_use() -> None:
    document = openslo_v1()
    document["metadata"]["labels"] = {"team": ["a", "b"], "app.kubernetes.io/name": "api"}
    body = only(document)
    assert body["spec"]["labels"] == {"team": "a,b", "app_kubernetes_io_name": "api"}
    assert "renamed to 'app_kubernetes_io_name'" in body["metadata"]["annotations"]["kpi.dev/import-notes"]


def test_openslo_v1alpha_is_named_as_sloth_names_it_with_sloths_expression() -> None:
    body = only(openslo_v1alpha())
    assert body["metadata"]["name"] == "api-0" and body["spec"]["window"] == "4w" and body["spec"]["objective"] == 99
    assert body["spec"]["indicator"]["raw"]["errorRatio"].split() == [
        "1", "-", "(", f'(sum(rate(x{{code!="5xx"}}[{WINDOW}])))', "/", f"(sum(rate(x[{WINDOW}])))", ")"
    ]


def test_openslo_v1alpha_threshold_metric_becomes_a_kpi() -> None:
    document = openslo_v1alpha(
        indicator={"thresholdMetric": {"source": "prometheus", "queryType": "promql", "query": "max(lag)"}},
        objectives=[{"op": "gt", "value": 0.5, "target": 0.9}],
    )
    body = only(document)
    assert (body["kind"], body["metadata"]["name"], body["spec"]["target"]) == ("KPI", "api-0", {"op": ">", "value": 0.5})


def test_pyrra_ratio_is_the_selector_form_with_pyrras_windows_and_alert_name() -> None:
    body = only(pyrra({**RATIO, "ratio": {**RATIO["ratio"], "grouping": ["handler"]}}))
    spec = body["spec"]
    assert body["metadata"]["namespace"] == "web" and spec["service"] == "api" and spec["objective"] == 99.5
    assert spec["indicator"] == {
        "ratio": {"errorsMetric": 'http_requests_total{job="api",code=~"5.."}', "totalMetric": 'http_requests_total{job="api"}'},
        "grouping": ["handler"],
    }
    alerting = spec["alerting"]
    assert alerting["name"] == "ErrorBudgetBurn"
    assert [(w["short"], w["long"]) for w in alerting["pageAlert"]["windows"] + alerting["ticketAlert"]["windows"]] == [
        ("5m", "1h"), ("30m", "6h"), ("2h", "1d"), ("6h", "4d")
    ]
    assert (alerting["pageAlert"]["for"], alerting["ticketAlert"]["for"], alerting["noData"]["for"]) == ("2m", "1h", "2m")
    assert alerting["pageAlert"]["labels"] == {"severity": "critical"} and alerting["ticketAlert"]["labels"] == {"severity": "warning"}


@pytest.mark.parametrize(
    "window, expected",
    [
        pytest.param("2w", [("3m", "30m"), ("15m", "3h"), ("1h", "12h"), ("3h", "2d")], id="At 2w Pyrra's windows halve and 2m30s rounds up to 3m"),
        pytest.param("7d", [("1m", "15m"), ("8m", "1h30m"), ("30m", "6h"), ("1h30m", "1d")], id="At 7d they are a quarter, rounded to the minute"),
    ],
)
def test_pyrra_windows_scale_with_the_slo_window(window: str, expected: list[tuple[str, str]]) -> None:
    alerting = only(pyrra(RATIO, window=window))["spec"]["alerting"]
    assert [(w["short"], w["long"]) for w in alerting["pageAlert"]["windows"] + alerting["ticketAlert"]["windows"]] == expected


def test_pyrra_latency_uses_the_histogram_base_name_and_le_as_threshold() -> None:
    indicator = {"latency": {"success": {"metric": 'h_seconds_bucket{job="a",le="0.25"}'}, "total": {"metric": 'h_seconds_count{job="a"}'}}}
    assert only(pyrra(indicator))["spec"]["indicator"] == {"latency": {"histogram": "h_seconds", "selector": '{job="a"}', "threshold": 0.25}}


def test_pyrra_native_latency_parses_the_duration() -> None:
    indicator = {"latencyNative": {"latency": "1s500ms", "total": {"metric": 'h_seconds{job="a"}'}}}
    assert only(pyrra(indicator))["spec"]["indicator"]["latency"] == {"histogram": "h_seconds", "selector": '{job="a"}', "threshold": 1.5, "native": True}


def test_pyrra_bool_gauge_without_grouping_counts_samples_like_pyrra() -> None:
    ratio = only(pyrra({"bool_gauge": {"metric": 'probe_success{job="blackbox"}'}}))["spec"]["indicator"]["ratio"]
    assert ratio["total"] == f'sum(count_over_time(probe_success{{job="blackbox"}}[{WINDOW}]))'
    assert ratio["errors"].startswith("sum(count_over_time(") and "sum_over_time" in ratio["errors"]


def test_pyrra_prefixed_labels_and_annotations_propagate_like_pyrras() -> None:
    document = pyrra(RATIO)
    document["metadata"]["labels"] = {"pyrra.dev/team": "web", "prometheus": "k8s"}
    document["metadata"]["annotations"] = {"pyrra.dev/runbook": "https://runbooks/api"}
    body = only(document)
    assert body["spec"]["labels"] == {"team": "web"} and body["metadata"]["labels"] == {"prometheus": "k8s"}
    assert body["spec"]["owner"] == "web" and body["spec"]["alerting"]["annotations"] == {"runbook": "https://runbooks/api"}


def test_kpi_dev_objects_pass_through() -> None:
    obj = {"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "metadata": {"name": "x"}, "spec": {}}
    assert import_document(obj) == [obj]


# --- refusals ---------------------------------------------------------------------------------------------------


def change(document: dict[str, Any], edit: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    edit(document)
    return document


REFUSALS = [
    pytest.param(sloth_file(sli={"plugin": {"id": "sloth-common/availability"}}), "slos[0].sli.plugin", "plugin",
                 id="A Sloth SLI plugin is refused: its queries come from Go code"),
    pytest.param(change(sloth_file(), lambda d: d.update(slo_plugins={"chain": [{"id": "x"}]})), "slo_plugins", "plugin",
                 id="A Sloth SLO plugin chain is refused"),
    pytest.param(sloth_file(plugins={"chain": [{"id": "x"}]}), "slos[0].plugins", "plugin", id="A per-SLO Sloth plugin chain is refused"),
    pytest.param(sloth_file(window="7d"), "slos[0].window", "unknown field", id="An unknown Sloth field is refused, not dropped"),
    pytest.param({"apiVersion": "sloth.slok.dev/v1", "kind": "AlertWindows", "spec": {}}, "kind", "AlertWindows",
                 id="A Sloth AlertWindows document is refused with what to do instead"),
    pytest.param(openslo_v1(budgetingMethod="Timeslices"), "spec.budgetingMethod", "Timeslices is not supported yet (only Occurrences)",
                 id="OpenSLO Timeslices budgeting is refused"),
    pytest.param(openslo_v1(budgetingMethod="RatioTimeslices"), "spec.budgetingMethod", "RatioTimeslices is not supported yet",
                 id="OpenSLO RatioTimeslices budgeting is refused"),
    pytest.param(openslo_v1(timeWindow=[{"duration": "1M", "isRolling": False, "calendar": {"startTime": "2022-01-01 00:00:00", "timeZone": "UTC"}}]),
                 "spec.timeWindow[0].calendar", "calendar", id="An OpenSLO calendar window is refused"),
    pytest.param(openslo_v1(timeWindow=[{"duration": "1M", "isRolling": True}]), "spec.timeWindow[0].duration", "months",
                 id="An OpenSLO rolling window in months is refused: months have no fixed length"),
    pytest.param(openslo_v1alpha(timeWindows=[{"count": 1, "unit": "Month"}]), "spec.timeWindows[0].unit", "fixed length",
                 id="An OpenSLO v1alpha window in months is refused"),
    pytest.param(change(openslo_v1alpha(), lambda d: d["spec"]["objectives"][0]["ratioMetrics"]["good"].update(source="datadog")),
                 "spec.objectives[0].ratioMetrics.good.source", "datadog is not supported", id="An OpenSLO v1alpha non-Prometheus source is refused"),
    pytest.param(openslo_v1(timeWindow=[]), "spec.timeWindow", "exactly one", id="An OpenSLO SLO without a time window is refused"),
    pytest.param(openslo_v1(objectives=[{"target": 0.99, "indicatorRef": "x"}]), "spec.objectives[0].indicatorRef", "composite",
                 id="A composite OpenSLO SLO is refused"),
    pytest.param(openslo_v1(objectives=[{"op": "gt", "target": 0.99}]), "spec.objectives[0].op", "forbidden",
                 id="op on a ratio objective is refused, as OpenSLO v1 forbids it"),
    pytest.param(openslo_v1(objectives=[{"target": 99.5}]), "spec.objectives[0].target", "fraction",
                 id="A target above 1 is refused (targetPercent is the percent field)"),
    pytest.param(openslo_v1(objectives=[{}]), "spec.objectives[0].target", "required", id="An objective without a target is refused"),
    pytest.param(change(openslo_v1(), lambda d: d["spec"]["indicator"]["spec"]["ratioMetric"]["bad"]["metricSource"].update(type="Datadog")),
                 "spec.indicator.spec.ratioMetric.bad.metricSource.type", "Datadog is not supported", id="A non-Prometheus metric source is refused"),
    pytest.param(change(openslo_v1(), lambda d: d["spec"]["indicator"]["spec"]["ratioMetric"]["bad"]["metricSource"]["spec"].update(query="sum(rate(x[5m])) / sum(rate(x[1h]))")),
                 "spec.indicator.spec.ratioMetric.bad.metricSource.spec.query", "different lengths", id="A query with two different ranges is refused"),
    pytest.param(change(openslo_v1(), lambda d: d["spec"].update(indicatorRef="missing") or d["spec"].pop("indicator")), "spec.indicatorRef", "no SLI named",
                 id="An indicatorRef to an SLI not in the input is refused"),
    pytest.param(pyrra({"bool_gauge": {"metric": "probe_success", "grouping": ["target"]}}), "spec.indicator.bool_gauge.grouping", "grouping a bool_gauge",
                 id="A grouped Pyrra bool_gauge is refused: kpi.dev groups only generator-built queries"),
    pytest.param(pyrra({"latency": {"success": {"metric": 'h_bucket{le="0.1",job="b"}'}, "total": {"metric": 'h_count{job="a"}'}}}),
                 "spec.indicator.latency.success.metric", "same series", id="A Pyrra latency whose bucket and count select different series is refused"),
    pytest.param(pyrra({"latency": {"success": {"metric": 'h_bucket{job="a"}'}, "total": {"metric": 'h_count{job="a"}'}}}),
                 "spec.indicator.latency.success.metric", "le=", id="A Pyrra latency without an le matcher is refused"),
    pytest.param(pyrra(RATIO, target="high"), "spec.target", "number", id="A Pyrra target that is not a number is refused"),
    pytest.param({"apiVersion": "sre.google.com/v2", "kind": "ServiceLevelObjective"}, "apiVersion", "unknown format",
                 id="An unknown format is refused naming apiVersion"),
]


@pytest.mark.parametrize("document, path, words", REFUSALS)
def test_unsupported_or_invalid_source_fields_are_named(document: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ImportProblem) as raised:
        import_document(document)
    assert raised.value.path == path
    assert words in raised.value.message


def test_from_refuses_a_document_of_another_format() -> None:
    with pytest.raises(ImportProblem) as raised:
        import_document(openslo_v1(), "pyrra")
    assert raised.value.path == "apiVersion" and "--from pyrra" in raised.value.message


@pytest.mark.parametrize(
    "document, expected",
    [
        pytest.param({"version": "prometheus/v1"}, "sloth", id="Sloth's version key"),
        pytest.param({"apiVersion": "sloth.slok.dev/v1"}, "sloth", id="Sloth's CR"),
        pytest.param({"apiVersion": "openslo/v1alpha"}, "openslo", id="OpenSLO v1alpha"),
        pytest.param({"apiVersion": "openslo/v1"}, "openslo", id="OpenSLO v1"),
        pytest.param({"apiVersion": "pyrra.dev/v1alpha1"}, "pyrra", id="Pyrra"),
        pytest.param({"apiVersion": "kpi.dev/v1alpha1"}, "kpi", id="Already kpi.dev"),
        pytest.param({"apiVersion": "openslo/v2alpha"}, None, id="An unknown version is not guessed"),
        pytest.param(["a"], None, id="Not a mapping"),
    ],
)
def test_detect_format(document: Any, expected: Any) -> None:
    assert detect_format(document) == expected


# --- window templating ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, counter, expected",
    [
        pytest.param(f"sum(rate(x[{WINDOW}]))", False, f"sum(rate(x[{WINDOW}]))", id="A query with {{.window}} is kept"),
        pytest.param("sum(rate(x[5m])) / sum(rate(y[5m]))", False, f"sum(rate(x[{WINDOW}])) / sum(rate(y[{WINDOW}]))",
                     id="Equal literal ranges become {{.window}}"),
        pytest.param('sum(rate(x{path=~"/v[12]/.*"}[1h]))', False, f'sum(rate(x{{path=~"/v[12]/.*"}}[{WINDOW}]))',
                     id="Brackets inside a quoted regex are left alone"),
        pytest.param('sum(http_requests{code="2xx"})', True, f'sum(rate(http_requests{{code="2xx"}}[{WINDOW}]))',
                     id="A sum of a counter selector becomes a sum of rates"),
        pytest.param('sum by (route) (http_requests{code="2xx"})', True, f'sum by (route) (rate(http_requests{{code="2xx"}}[{WINDOW}]))',
                     id="A grouped sum of a counter selector keeps its grouping"),
        pytest.param("http_requests_total", True, f"sum(rate(http_requests_total[{WINDOW}]))", id="A bare counter selector becomes a sum of rates"),
    ],
)
def test_template_window(query: str, counter: bool, expected: str) -> None:
    assert template_window(query, "q", counter) == expected


@pytest.mark.parametrize(
    "query, counter, words",
    [
        pytest.param("sum(http_requests)", False, "no range selector", id="A gauge query without a range is refused"),
        pytest.param("max_over_time(rate(x[5m])[1h:5m])", False, "subquery", id="A subquery is refused"),
        pytest.param("sum(x) / sum(y)", True, "no range selector", id="A counter expression that is not one selector is refused"),
    ],
)
def test_template_window_refusals(query: str, counter: bool, words: str) -> None:
    with pytest.raises(ImportProblem) as raised:
        template_window(query, "q", counter)
    assert raised.value.path == "q" and words in raised.value.message
