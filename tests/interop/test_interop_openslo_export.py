"""``kpi-operator export --to openslo``: every SLO becomes a valid OpenSLO v1 SLO that imports back to the same SLO.

"Valid" is checked against the rules of OpenSLO's reference validator (``github.com/OpenSLO/go-sdk``,
``pkg/openslo/v1``), restated below as a table of rules, each with a document that breaks it: the rules are
tested before they are trusted. "The same SLO" compares what OpenSLO can carry: service, owner (annotation),
description, objective, window, labels, and the SLI's error / total / error-ratio queries as the rule generator
renders them for a window.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml

from kpi_operator.api import parse_object
from kpi_operator.api.durations import parse_duration_ms
from kpi_operator.api.models import KPI, SLO
from kpi_operator.interop import ExportProblem, ExportSkipped, export_object, import_document
from kpi_operator.rules import sli
from support.anchors import anchor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# --- the OpenSLO v1 validator's rules (go-sdk pkg/openslo/v1: objects.go, slo.go, sli.go, duration_shorthand.go) ---

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_KEY = re.compile(r"^[a-z0-9]([-._a-z0-9]{0,61}[a-z0-9])?$")
ANNOTATION_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?[a-z0-9]([-._a-z0-9]{0,61}[a-z0-9])?$")
DURATION = re.compile(r"^[0-9]+[mhdwMQY]$")
BUDGETING_METHODS = ("Occurrences", "Timeslices", "RatioTimeslices")
OPERATORS = ("gt", "lt", "gte", "lte")


def _metric_problems(metric: Any, path: str) -> list[str]:
    source = (metric or {}).get("metricSource") if isinstance(metric, dict) else None
    if not isinstance(source, dict):
        return [f"{path}.metricSource: required"]
    problems = []
    if not isinstance(source.get("spec"), dict) or not source["spec"]:
        problems.append(f"{path}.metricSource.spec: required, at least one entry")
    ref = source.get("metricSourceRef")
    if ref and not DNS_LABEL.match(ref):
        problems.append(f"{path}.metricSource.metricSourceRef: must be an RFC-1123 label")
    return problems


def _sli_problems(spec: Any, path: str) -> list[str]:
    if not isinstance(spec, dict):
        return [f"{path}: required"]
    problems = []
    if len(spec.get("description") or "") > 1050:
        problems.append(f"{path}.description: at most 1050 characters")
    kinds = [key for key in ("thresholdMetric", "ratioMetric") if spec.get(key) is not None]
    if len(kinds) != 1:
        return problems + [f"{path}: exactly one of thresholdMetric, ratioMetric"]
    if kinds == ["thresholdMetric"]:
        return problems + _metric_problems(spec["thresholdMetric"], f"{path}.thresholdMetric")
    ratio, ratio_path = spec["ratioMetric"], f"{path}.ratioMetric"
    if (ratio.get("total") is None) == (ratio.get("raw") is None):
        return problems + [f"{ratio_path}: exactly one of total, raw"]
    if sum(ratio.get(key) is not None for key in ("raw", "good", "bad")) > 1:
        return problems + [f"{ratio_path}: at most one of raw, good, bad"]
    if ratio.get("total") is not None:
        if sum(ratio.get(key) is not None for key in ("good", "bad")) != 1:
            return problems + [f"{ratio_path}: exactly one of good, bad with total"]
        part = "good" if ratio.get("good") is not None else "bad"
        problems += _metric_problems(ratio["total"], f"{ratio_path}.total") + _metric_problems(ratio[part], f"{ratio_path}.{part}")
    else:
        if ratio.get("rawType") not in ("success", "failure"):
            problems.append(f"{ratio_path}.rawType: one of success, failure")
        problems += _metric_problems(ratio["raw"], f"{ratio_path}.raw")
    return problems


def openslo_v1_slo_problems(document: Any) -> list[str]:
    """The go-sdk v1 validator's rules for an SLO (time zones and start times aside), as messages with paths."""
    problems = []
    if document.get("apiVersion") != "openslo/v1":
        problems.append("apiVersion: must be openslo/v1")
    if document.get("kind") != "SLO":
        problems.append("kind: must be SLO")
    metadata = document.get("metadata") or {}
    if not DNS_LABEL.match(str(metadata.get("name") or "")) or len(str(metadata.get("name"))) > 63:
        problems.append("metadata.name: required, an RFC-1123 label")
    if len(metadata.get("displayName") or "") > 63:
        problems.append("metadata.displayName: at most 63 characters")
    for key, value in (metadata.get("labels") or {}).items():
        if not LABEL_KEY.match(key):
            problems.append(f"metadata.labels.{key}: invalid label key")
        if not isinstance(value, str) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"metadata.labels.{key}: a string or a list of strings")
    for key in metadata.get("annotations") or {}:
        if not ANNOTATION_KEY.match(key):
            problems.append(f"metadata.annotations.{key}: invalid annotation key")
    spec = document.get("spec") or {}
    if not spec.get("service"):
        problems.append("spec.service: required")
    if len(spec.get("description") or "") > 1050:
        problems.append("spec.description: at most 1050 characters")
    objectives = spec.get("objectives") or []
    composite = any(o.get("indicator") is not None or o.get("indicatorRef") is not None for o in objectives)
    has_indicator = spec.get("indicator") is not None or spec.get("indicatorRef") is not None
    if composite == has_indicator:
        problems.append("spec: indicator or indicatorRef on the spec (or, for composite SLOs, on every objective), not both")
    if spec.get("indicator") is not None and spec.get("indicatorRef") is not None:
        problems.append("spec: indicator and indicatorRef are mutually exclusive")
    inline = spec.get("indicator")
    if inline is not None:
        if not DNS_LABEL.match(str((inline.get("metadata") or {}).get("name") or "")):
            problems.append("spec.indicator.metadata.name: required, an RFC-1123 label")
        problems += _sli_problems(inline.get("spec"), "spec.indicator.spec")
    if spec.get("indicatorRef") is not None and not DNS_LABEL.match(str(spec["indicatorRef"])):
        problems.append("spec.indicatorRef: an RFC-1123 label")
    method = spec.get("budgetingMethod")
    if method not in BUDGETING_METHODS:
        problems.append(f"spec.budgetingMethod: one of {', '.join(BUDGETING_METHODS)}")
    windows = spec.get("timeWindow") or []
    if len(windows) != 1:
        problems.append("spec.timeWindow: exactly one")
    for index, window in enumerate(windows):
        if not DURATION.match(str(window.get("duration") or "")):
            problems.append(f"spec.timeWindow[{index}].duration: a number and one of m, h, d, w, M, Q, Y")
        if bool(window.get("isRolling")) == (window.get("calendar") is not None):
            problems.append(f"spec.timeWindow[{index}]: calendar when and only when isRolling is false")
    if not objectives:
        problems.append("spec.objectives: at least one")
    ratio = inline is not None and (inline.get("spec") or {}).get("ratioMetric") is not None
    threshold = inline is not None and (inline.get("spec") or {}).get("thresholdMetric") is not None
    for index, objective in enumerate(objectives):
        path = f"spec.objectives[{index}]"
        if (objective.get("target") is None) == (objective.get("targetPercent") is None):
            problems.append(f"{path}: exactly one of target, targetPercent")
        if objective.get("target") is not None and not 0 <= objective["target"] < 1:
            problems.append(f"{path}.target: 0 <= target < 1")
        if objective.get("targetPercent") is not None and not 0 <= objective["targetPercent"] < 100:
            problems.append(f"{path}.targetPercent: 0 <= targetPercent < 100")
        if ratio:
            problems += [f"{path}.{key}: forbidden for a ratioMetric SLI" for key in ("op", "value") if objective.get(key) is not None]
        if threshold:
            if objective.get("op") not in OPERATORS:
                problems.append(f"{path}.op: required, one of {', '.join(OPERATORS)}")
            if objective.get("value") is None:
                problems.append(f"{path}.value: required")
        if method == "Timeslices" and not (objective.get("timeSliceTarget") is not None and 0 < objective["timeSliceTarget"] <= 1):
            problems.append(f"{path}.timeSliceTarget: required, 0 < x <= 1")
        if method in ("Timeslices", "RatioTimeslices") and not DURATION.match(str(objective.get("timeSliceWindow") or "")):
            problems.append(f"{path}.timeSliceWindow: required duration")
    return problems


VALID = {
    "apiVersion": "openslo/v1",
    "kind": "SLO",
    "metadata": {"name": "web", "labels": {"team": ["a", "b"]}, "annotations": {"kpi.dev/owner": "a"}},
    "spec": {
        "service": "web",
        "indicator": {
            "metadata": {"name": "web"},
            "spec": {
                "ratioMetric": {
                    "counter": True,
                    "good": {"metricSource": {"type": "Prometheus", "spec": {"query": "sum(rate(ok[{{.window}}]))"}}},
                    "total": {"metricSource": {"type": "Prometheus", "spec": {"query": "sum(rate(all[{{.window}}]))"}}},
                }
            },
        },
        "timeWindow": [{"duration": "28d", "isRolling": True}],
        "budgetingMethod": "Occurrences",
        "objectives": [{"target": 0.99}],
    },
}


def broken(edit: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    edit(document)
    return document


RATIO_PATH = ("spec", "indicator", "spec", "ratioMetric")


def ratio(document: dict[str, Any]) -> dict[str, Any]:
    return document["spec"]["indicator"]["spec"]["ratioMetric"]


@pytest.mark.parametrize(
    "document, expected",
    [
        pytest.param(VALID, None, id="A ratio SLO with one rolling window and a target in [0, 1) is valid"),
        pytest.param(broken(lambda d: d.update(apiVersion="openslo/v1alpha")), "apiVersion", id="apiVersion must be openslo/v1"),
        pytest.param(broken(lambda d: d.update(kind="SLI")), "kind", id="kind must be SLO"),
        pytest.param(broken(lambda d: d["metadata"].update(name="Web SLO")), "metadata.name", id="metadata.name must be an RFC-1123 label"),
        pytest.param(broken(lambda d: d["metadata"]["labels"].update(Team="x")), "metadata.labels.Team", id="Label keys are lower case"),
        pytest.param(broken(lambda d: d["spec"].pop("service")), "spec.service", id="spec.service is required"),
        pytest.param(broken(lambda d: d["spec"].update(indicatorRef="web")), "spec: indicator and indicatorRef", id="indicator and indicatorRef exclude each other"),
        pytest.param(broken(lambda d: d["spec"].pop("indicator")), "spec: indicator or indicatorRef", id="indicator or indicatorRef is required"),
        pytest.param(broken(lambda d: ratio(d).update(bad=ratio(d)["good"])), "spec.indicator.spec.ratioMetric: at most one", id="ratioMetric takes good or bad, not both"),
        pytest.param(broken(lambda d: ratio(d).pop("total")), "spec.indicator.spec.ratioMetric: exactly one of total, raw", id="ratioMetric needs total (or raw)"),
        pytest.param(broken(lambda d: ratio(d).update(raw=ratio(d).pop("good"), rawType="ok") or ratio(d).pop("total")), "spec.indicator.spec.ratioMetric.rawType",
                     id="raw needs rawType success or failure"),
        pytest.param(broken(lambda d: ratio(d)["good"]["metricSource"].update(spec={})), "spec.indicator.spec.ratioMetric.good.metricSource.spec", id="A metric source needs a spec"),
        pytest.param(broken(lambda d: d["spec"]["objectives"].clear()), "spec.objectives: at least one", id="objectives must not be empty"),
        pytest.param(broken(lambda d: d["spec"]["objectives"][0].update(target=1.0)), "spec.objectives[0].target", id="target is below 1"),
        pytest.param(broken(lambda d: d["spec"]["objectives"][0].update(targetPercent=99)), "spec.objectives[0]: exactly one", id="target and targetPercent exclude each other"),
        pytest.param(broken(lambda d: d["spec"]["objectives"][0].update(op="gt")), "spec.objectives[0].op: forbidden", id="op is forbidden on a ratio objective (oslo: 'property is forbidden')"),
        pytest.param(broken(lambda d: d["spec"]["timeWindow"].append({"duration": "1w", "isRolling": True})), "spec.timeWindow: exactly one", id="Exactly one time window"),
        pytest.param(broken(lambda d: d["spec"]["timeWindow"][0].update(duration="1h30m")), "spec.timeWindow[0].duration", id="A duration is a number and one unit"),
        pytest.param(broken(lambda d: d["spec"]["timeWindow"][0].update(isRolling=False)), "spec.timeWindow[0]: calendar", id="A non-rolling window needs a calendar"),
        pytest.param(broken(lambda d: d["spec"].update(budgetingMethod="Events")), "spec.budgetingMethod", id="budgetingMethod is one of the three"),
        pytest.param(broken(lambda d: d["spec"].update(budgetingMethod="Timeslices")), "spec.objectives[0].timeSliceTarget", id="Timeslices needs timeSliceTarget"),
    ],
)
def test_the_validator_rules_catch_what_go_sdk_rejects(document: dict[str, Any], expected: Optional[str]) -> None:
    problems = openslo_v1_slo_problems(document)
    if expected is None:
        assert problems == []
    else:
        assert any(problem.startswith(expected) for problem in problems), problems


def test_the_validator_rules_agree_with_oslos_transcript_on_the_go_sdk_example() -> None:
    """oslo rejects ``spec.objectives[0].op`` of go-sdk's slos.yaml (and a time zone, which needs tzdata; not checked here)."""
    (document,) = yaml.safe_load(anchor("oslo/test/inputs/validate/v1.yaml").read_text())[:1]
    assert "property is forbidden" in anchor("oslo/test/outputs/validate/v1").read_text()
    assert [p for p in openslo_v1_slo_problems(document) if p.startswith("spec.objectives[0].op")]


# --- export ----------------------------------------------------------------------------------------------------


def slo(name: str, indicator: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"service": "shop", "owner": "team-shop", "objective": 99.9, "window": "30d", "indicator": indicator, **spec},
    }


FIXTURES = [
    slo("queries", {"ratio": {"errors": 'sum(rate(req_total{code=~"5.."}[{{.window}}]))', "total": "sum(rate(req_total[{{.window}}]))"}},
        description="Requests succeed", labels={"team": "shop", "tier": "1"}),
    slo("raw", {"raw": {"errorRatio": "1 - avg(avg_over_time(up{job=\"shop\"}[{{.window}}]))"}}, objective=99.95, window="4w"),
    slo("selectors", {"ratio": {"errorsMetric": 'req_total{code=~"5.."}', "totalMetric": "req_total"}}, objective=99),
    slo("grouped", {"ratio": {"errorsMetric": 'req_total{code=~"5.."}', "totalMetric": "req_total"}, "grouping": ["route", "method"]}, window="7d"),
    slo("latency", {"latency": {"histogram": "req_seconds", "selector": '{job="shop"}', "threshold": 0.25}}, objective=95, window="14d"),
    slo("native", {"latency": {"histogram": "req_seconds", "threshold": 1, "native": True}}, window="1h30m",
        alerting={"pageAlert": {"windows": [{"long": "1h", "short": "5m", "budgetPercent": 2}]}, "ticketAlert": {"disabled": True}}),
    slo("odd-labels", {"raw": {"errorRatio": "sum(rate(e[{{.window}}])) / sum(rate(t[{{.window}}]))"}}, labels={"Team": "x", "env": "prod"}),
]


def example_slos() -> list[dict[str, Any]]:
    bodies = [body for path in sorted(EXAMPLES.glob("*.yaml")) for body in yaml.safe_load_all(path.read_text()) if body]
    return [body for body in bodies if body.get("kind") == "SLO"]


def objects(bodies: list[dict[str, Any]]) -> list[Any]:
    result = []
    for body in bodies:
        obj, problems = parse_object(body)
        assert not problems, problems
        result.append(obj)
    return result


def carried(obj: SLO) -> dict[str, Any]:
    """What an OpenSLO SLO carries, compared by meaning (queries as the generator renders them)."""
    squash = lambda text: re.sub(r"\s+", "", text or "")  # noqa: E731
    return {
        "service": obj.spec.service,
        "owner": obj.spec.owner,
        "description": obj.spec.description,
        "objective": obj.spec.objective,
        "window": parse_duration_ms(obj.spec.window),
        "labels": {key: value for key, value in obj.spec.labels.items() if key == key.lower()},
        "errors": squash(sli.error_query(obj, "5m")),
        "total": squash(sli.total_query(obj, "5m")),
        "raw": squash(sli.raw_ratio_query(obj, "5m")),
    }


def roundtrip_cases() -> list[Any]:
    cases = [pytest.param(body, id=f"fixture SLO {body['metadata']['name']}") for body in FIXTURES]
    cases += [pytest.param(body, id=f"examples/ SLO {body['metadata']['name']}") for body in example_slos()]
    return cases


@pytest.mark.parametrize("body", roundtrip_cases())
def test_every_slo_exports_to_valid_openslo_that_imports_back_to_the_same_slo(body: dict[str, Any]) -> None:
    (original,) = objects([body])
    exported = export_object(original)
    assert openslo_v1_slo_problems(exported.document) == []
    (back,) = objects(import_document(exported.document))
    assert carried(back) == carried(original)


def test_the_examples_folder_has_slos_to_export() -> None:
    assert example_slos(), "examples/*.yaml should hold SLOs; the round trip above runs on each"


def test_a_kpi_without_an_openslo_target_is_skipped_with_the_reason() -> None:
    kpi = {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "KPI",
        "metadata": {"name": "conversion"},
        "spec": {"owner": "growth", "query": "sum(rate(orders[{{.window}}]))", "target": {"op": ">=", "value": 1}},
    }
    (obj,) = objects([kpi])
    with pytest.raises(ExportSkipped, match="target share of good events"):
        export_object(obj)


def test_a_kpi_imported_from_an_openslo_threshold_slo_exports_back() -> None:
    source = {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "lag", "annotations": {"kpi.dev/owner": "data"}},
        "spec": {
            "service": "pipeline",
            "indicator": {"metadata": {"name": "lag"}, "spec": {"thresholdMetric": {"metricSource": {"type": "Prometheus", "spec": {"query": "max(lag)"}}}}},
            "timeWindow": [{"duration": "2w", "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [{"op": "lt", "value": 500, "target": 0.99}],
        },
    }
    (kpi,) = objects(import_document(source))
    assert isinstance(kpi, KPI)
    exported = export_object(kpi).document
    assert openslo_v1_slo_problems(exported) == []
    assert exported["spec"]["service"] == "pipeline" and exported["spec"]["timeWindow"] == source["spec"]["timeWindow"]
    assert exported["spec"]["objectives"] == source["spec"]["objectives"]
    assert exported["spec"]["indicator"]["spec"] == source["spec"]["indicator"]["spec"]


def test_a_window_openslo_cannot_write_is_an_error_naming_the_field() -> None:
    (obj,) = objects([slo("short", {"raw": {"errorRatio": "rate(e[{{.window}}])"}}, window="90s",
                          alerting={"pageAlert": {"disabled": True}, "ticketAlert": {"disabled": True}})])
    with pytest.raises(ExportProblem) as raised:
        export_object(obj)
    assert raised.value.path == "spec.window"


def test_label_keys_openslo_refuses_are_dropped_with_a_note() -> None:
    (obj,) = objects([FIXTURES[-1]])
    exported = export_object(obj)
    assert exported.document["metadata"]["labels"] == {"env": "prod"}
    assert any("spec.labels.Team" in note for note in exported.notes)
