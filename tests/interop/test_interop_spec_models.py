"""The source-format models: a field a format does not have, or a value of the wrong type, is refused naming it."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from kpi_operator.interop import ImportProblem, import_document, import_documents, split_documents

WINDOW = "{{.window}}"


def sloth_file() -> dict[str, Any]:
    return {
        "version": "prometheus/v1",
        "service": "api",
        "labels": {"owner": "core"},
        "slos": [
            {
                "name": "availability",
                "objective": 99.9,
                "sli": {"events": {"error_query": f'sum(rate(x{{code="5xx"}}[{WINDOW}]))', "total_query": f"sum(rate(x[{WINDOW}]))"}},
                "alerting": {"name": "Burn", "page_alert": {"labels": {"severity": "page"}}},
            }
        ],
    }


def sloth_cr() -> dict[str, Any]:
    return {
        "apiVersion": "sloth.slok.dev/v1",
        "kind": "PrometheusServiceLevel",
        "metadata": {"name": "api", "namespace": "web"},
        "spec": {
            "service": "api",
            "slos": [
                {
                    "name": "availability",
                    "objective": 99.9,
                    "sli": {"raw": {"errorRatioQuery": f"sum(rate(e[{WINDOW}])) / sum(rate(t[{WINDOW}]))"}},
                    "alerting": {"ticketAlert": {"disable": True}},
                }
            ],
        },
    }


def openslo_v1() -> dict[str, Any]:
    return {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "api", "labels": {"team": ["core"]}},
        "spec": {
            "service": "api",
            "indicator": {
                "metadata": {"name": "api-errors"},
                "spec": {
                    "ratioMetric": {
                        "counter": False,
                        "bad": {"metricSource": {"type": "Prometheus", "spec": {"query": f"sum(rate(e[{WINDOW}]))"}}},
                        "total": {"metricSource": {"type": "Prometheus", "spec": {"query": f"sum(rate(t[{WINDOW}]))"}}},
                    }
                },
            },
            "timeWindow": [{"duration": "28d", "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [{"target": 0.995}],
            "alertPolicies": [{"kind": "AlertPolicy", "metadata": {"name": "page"}, "spec": {"alertWhenBreaching": True, "conditions": [{"conditionRef": "fast"}]}}],
        },
    }


def openslo_v1alpha() -> dict[str, Any]:
    return {
        "apiVersion": "openslo/v1alpha",
        "kind": "SLO",
        "metadata": {"name": "api"},
        "spec": {
            "service": "api",
            "budgetingMethod": "Occurrences",
            "timeWindows": [{"count": 4, "unit": "Week", "isRolling": True}],
            "objectives": [
                {
                    "target": 0.99,
                    "ratioMetrics": {
                        "good": {"source": "prometheus", "queryType": "promql", "query": f"sum(rate(g[{WINDOW}]))"},
                        "total": {"source": "prometheus", "queryType": "promql", "query": f"sum(rate(t[{WINDOW}]))"},
                    },
                }
            ],
        },
    }


def pyrra() -> dict[str, Any]:
    return {
        "apiVersion": "pyrra.dev/v1alpha1",
        "kind": "ServiceLevelObjective",
        "metadata": {"name": "api", "namespace": "web", "labels": {"pyrra.dev/team": "core"}},
        "spec": {
            "target": "99.5",
            "window": "28d",
            "indicator": {"ratio": {"errors": {"metric": 'http_requests_total{job="api",code=~"5.."}'}, "total": {"metric": 'http_requests_total{job="api"}'}}},
            "alerting": {"severities": {"fastBurn": "page"}},
        },
    }


def sli_document() -> dict[str, Any]:
    return {
        "apiVersion": "openslo/v1",
        "kind": "SLI",
        "metadata": {"name": "api-errors"},
        "spec": {"thresholdMetric": {"metricSource": {"metricSourceRef": "prom", "spec": {"query": "max(lag)"}}}},
    }


def data_source() -> dict[str, Any]:
    return {"apiVersion": "openslo/v1", "kind": "DataSource", "metadata": {"name": "prom"}, "spec": {"type": "Prometheus", "connectionDetails": {"url": "http://p"}}}


def slo_referring_to_the_sli() -> dict[str, Any]:
    document = openslo_v1()
    document["spec"].pop("indicator")
    document["spec"]["indicatorRef"] = "api-errors"
    document["spec"]["objectives"] = [{"op": "lte", "value": 100, "target": 0.99}]
    return document


def changed(build: Callable[[], dict[str, Any]], edit: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    document = copy.deepcopy(build())
    edit(document)
    return document


def refusal(documents: list[dict[str, Any]]) -> ImportProblem:
    """The problem of the first document, with the others as the rest of the input (for references)."""
    (first, *_) = import_documents(split_documents("in.yaml", documents))
    assert first.problem is not None, first.objects
    return first.problem


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(sloth_file, id="A Sloth prometheus/v1 file imports"),
        pytest.param(sloth_cr, id="A Sloth PrometheusServiceLevel imports"),
        pytest.param(openslo_v1, id="An OpenSLO v1 SLO with an inline alert policy imports"),
        pytest.param(openslo_v1alpha, id="An OpenSLO v1alpha SLO imports"),
        pytest.param(pyrra, id="A Pyrra ServiceLevelObjective imports"),
    ],
)
def test_the_table_fixtures_import(build: Callable[[], dict[str, Any]]) -> None:
    assert import_document(build())


UNKNOWN_FIELDS = [
    pytest.param([changed(sloth_file, lambda d: d.update(window="7d"))], "window", "Sloth's prometheus/v1 spec",
                 id="Sloth file: an unknown top-level field is named"),
    pytest.param([changed(sloth_file, lambda d: d["slos"][0]["sli"]["events"].update(error_querry="x"))], "slos[0].sli.events.error_querry", "error_query",
                 id="Sloth file: a misspelt query is named, with the fields the events SLI has"),
    pytest.param([changed(sloth_file, lambda d: d["slos"][0]["sli"]["events"].update(errorQuery="x"))], "slos[0].sli.events.errorQuery", "a Sloth events SLI",
                 id="Sloth file: the CR's camelCase spelling is unknown in a file"),
    pytest.param([changed(sloth_cr, lambda d: d["spec"]["slos"][0]["alerting"].update(page_alert={}))], "spec.slos[0].alerting.page_alert", "pageAlert",
                 id="Sloth CR: the file's snake_case spelling is unknown in a CR"),
    pytest.param([changed(sloth_cr, lambda d: d["metadata"].update(nmespace="x"))], "metadata.nmespace", "Kubernetes object metadata",
                 id="Sloth CR: an unknown metadata field is named"),
    pytest.param([changed(openslo_v1, lambda d: d["spec"]["objectives"][0].update(targetPercentage=99))], "spec.objectives[0].targetPercentage", "targetPercent",
                 id="OpenSLO v1: an unknown objective field is named"),
    pytest.param([changed(openslo_v1, lambda d: d["spec"]["indicator"]["spec"]["ratioMetric"]["bad"]["metricSource"]["spec"].update(step="1m"))],
                 "spec.indicator.spec.ratioMetric.bad.metricSource.spec.step", "Prometheus-compatible metric source",
                 id="OpenSLO v1: a Prometheus source spec has only a query"),
    pytest.param([changed(openslo_v1, lambda d: d["spec"]["alertPolicies"][0]["spec"].update(alertWhenBreach=True))], "spec.alertPolicies[0].spec.alertWhenBreach",
                 "alertWhenBreaching", id="OpenSLO v1: an unknown field in an inline alert policy is named, though policies are not translated"),
    pytest.param([slo_referring_to_the_sli(), changed(sli_document, lambda d: d["spec"].update(thresholdMetrics={})), data_source()],
                 "SLI/api-errors.spec.thresholdMetrics", "an OpenSLO v1 SLI spec", id="OpenSLO v1: an unknown field of a referenced SLI is named at SLI/<name>"),
    pytest.param([slo_referring_to_the_sli(), sli_document(), changed(data_source, lambda d: d["spec"].update(kind="x"))],
                 "DataSource/prom.spec.kind", "an OpenSLO DataSource spec", id="OpenSLO v1: an unknown field of a DataSource read for its type is named"),
    pytest.param([changed(openslo_v1alpha, lambda d: d["spec"]["objectives"][0]["ratioMetrics"].update(counter=True))], "spec.objectives[0].ratioMetrics.counter",
                 "incremental", id="OpenSLO v1alpha: v1's counter is unknown in v1alpha ratioMetrics"),
    pytest.param([changed(pyrra, lambda d: d["spec"]["indicator"]["ratio"].update(groupBy=["handler"]))], "spec.indicator.ratio.groupBy", "grouping",
                 id="Pyrra: an unknown indicator field is named"),
    pytest.param([changed(pyrra, lambda d: d["spec"]["alerting"]["severities"].update(fastburn="x"))], "spec.alerting.severities.fastburn", "fastBurn",
                 id="Pyrra: a miscapitalised severity is named"),
]


@pytest.mark.parametrize("documents, path, words", UNKNOWN_FIELDS)
def test_an_unknown_field_is_refused_naming_it(documents: list[dict[str, Any]], path: str, words: str) -> None:
    problem = refusal(documents)
    assert problem.path == path
    assert problem.message.startswith("unknown field in ") and words in problem.message


WRONG_TYPES = [
    pytest.param([changed(sloth_file, lambda d: d["slos"][0].update(objective="high"))], "slos[0].objective", "expected a number, got 'high'",
                 id="Sloth file: an objective that is not a number is named"),
    pytest.param([changed(sloth_file, lambda d: d["slos"][0]["alerting"]["page_alert"].update(disable="yes"))], "slos[0].alerting.page_alert.disable",
                 "expected true or false, got 'yes'", id="Sloth file: a disable that is not a boolean is named"),
    pytest.param([changed(sloth_cr, lambda d: d["spec"].update(slos={"name": "x"}))], "spec.slos", "expected a list, got dict",
                 id="Sloth CR: slos that are not a list are named"),
    pytest.param([changed(sloth_cr, lambda d: d["spec"]["slos"][0]["sli"]["raw"].update(errorRatioQuery=["q"]))], "spec.slos[0].sli.raw.errorRatioQuery",
                 "expected a string, got ['q']", id="Sloth CR: a query that is not a string is named"),
    pytest.param([changed(openslo_v1, lambda d: d["metadata"]["labels"].update(team={"a": "b"}))], "metadata.labels.team",
                 "expected a string or a list of strings, got {'a': 'b'}", id="OpenSLO v1: a label value that is a mapping is named"),
    pytest.param([changed(openslo_v1, lambda d: d["spec"]["timeWindow"][0].update(isRolling="true"))], "spec.timeWindow[0].isRolling",
                 "expected true or false, got 'true'", id="OpenSLO v1: isRolling written as a string is named"),
    pytest.param([changed(openslo_v1, lambda d: d["spec"].update(budgetingMethod="occurrences"))], "spec.budgetingMethod",
                 "expected one of Occurrences, Timeslices, RatioTimeslices, got 'occurrences'", id="OpenSLO v1: a budgeting method OpenSLO does not have is named"),
    pytest.param([changed(openslo_v1, lambda d: d["spec"]["indicator"]["spec"]["ratioMetric"].update(rawType="good"))], "spec.indicator.spec.ratioMetric.rawType",
                 "expected one of success, failure, got 'good'", id="OpenSLO v1: a rawType OpenSLO does not have is named"),
    pytest.param([changed(openslo_v1, lambda d: d["spec"].update(service=None))], "spec.service", "required field is missing",
                 id="OpenSLO v1: a null service is missing"),
    pytest.param([changed(openslo_v1alpha, lambda d: d["spec"]["timeWindows"][0].update(count="four"))], "spec.timeWindows[0].count",
                 "expected a number, got 'four'", id="OpenSLO v1alpha: a count that is not a number is named"),
    pytest.param([changed(pyrra, lambda d: d["spec"]["indicator"]["ratio"].update(grouping=[1]))], "spec.indicator.ratio.grouping[0]",
                 "expected a label name, got 1", id="Pyrra: a grouping entry that is not a label name is named"),
    pytest.param([changed(pyrra, lambda d: d["spec"]["alerting"].update(absent="no"))], "spec.alerting.absent", "expected true or false, got 'no'",
                 id="Pyrra: alerting.absent that is not a boolean is named"),
    pytest.param([changed(pyrra, lambda d: d["spec"].update(partial_response_strategy="fail"))], "spec.partial_response_strategy",
                 "expected one of abort, warn, '', got 'fail'", id="Pyrra: a partial_response_strategy Pyrra does not have is named"),
]


@pytest.mark.parametrize("documents, path, message", WRONG_TYPES)
def test_a_wrongly_typed_field_is_refused_naming_it(documents: list[dict[str, Any]], path: str, message: str) -> None:
    problem = refusal(documents)
    assert (problem.path, problem.message) == (path, message)


@pytest.mark.parametrize(
    "document, expected",
    [
        pytest.param(changed(sloth_cr, lambda d: d["metadata"].update(uid="1", resourceVersion="7", generation=2, managedFields=[{"manager": "kubectl"}])),
                     "SLO/availability", id="Sloth CR: metadata the API server writes is accepted and ignored"),
        pytest.param(changed(pyrra, lambda d: d.update(status={"type": "PrometheusRule"})), "SLO/api", id="Pyrra: the status Pyrra writes is accepted and ignored"),
        pytest.param(changed(pyrra, lambda d: d["spec"].update(ruleOutput={"enableDescriptionAsLabel": True, "longRulesLabels": {"a": "b"}})), "SLO/api",
                     id="Pyrra: ruleOutput is accepted (and noted)"),
        pytest.param(changed(sloth_file, lambda d: d.update(slo_plugins={"overridePrevious": False, "chain": []})), "SLO/availability",
                     id="Sloth file: an empty plugin chain is accepted"),
    ],
)
def test_fields_the_formats_define_but_the_import_ignores_are_accepted(document: dict[str, Any], expected: str) -> None:
    assert [f"{body['kind']}/{body['metadata']['name']}" for body in import_document(document)] == [expected]
