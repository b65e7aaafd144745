"""OpenSLO ``openslo/v1alpha`` and ``openslo/v1`` SLOs -> kpi.dev SLOs (ratio SLIs) and KPIs (threshold SLIs).

What maps to what:

- ``spec.service``, ``spec.description`` (or ``metadata.displayName``) unchanged; ``metadata.labels`` ->
  ``spec.labels`` (a list value is joined with commas; a key Prometheus cannot use is sanitised, with a note);
- the one rolling time window (v1 ``timeWindow[0].duration``, v1alpha ``timeWindows[0]`` count + unit) ->
  ``spec.window``;
- each objective -> one object. An SLO with one objective keeps its name in v1; several objectives (and every
  v1alpha SLO, as Sloth names them, so Sloth's series continue) are named ``<name>-<index>``;
- ``target`` (0..1) or ``targetPercent`` -> ``objective`` (percent);
- ratio SLIs (inline ``indicator`` or ``indicatorRef`` to an SLI document in the same input): ``bad``/``total``
  -> ``ratio`` errors/total; v1 ``good``/``total`` -> ``ratio`` with errors ``(total) - (good)``, which keeps event
  counts (``minEvents``, ratio-of-sums period windows); v1alpha ``ratioMetrics`` good/total -> ``raw``
  ``1 - ((good) / (total))``, the expression Sloth writes, so ``ruleSchema: sloth`` gives Sloth's exact series;
  v1 ``raw`` with ``rawType`` failure / success -> ``raw`` errorRatio ``q`` / ``1 - (q)``. Queries get their
  ``{{.window}}`` as ``window_template`` explains;
- threshold SLIs (``thresholdMetric``) -> a KPI per objective: ``query``, ``target: {op, value}`` (lt/lte/gt/gte
  -> < <= > >=). The objective's ``target`` (share of good events) and the time window have no KPI counterpart;
  they are kept in the annotations ``kpi.dev/openslo-target``, ``kpi.dev/openslo-time-window`` (and the service in
  ``kpi.dev/openslo-service``) so that
  ``kpi-operator export`` can write the same OpenSLO SLO back;
- alerting: OpenSLO's ``alertPolicies`` are single-window conditions with notification targets, not
  multiwindow burn-rate tiers, and are not translated. An SLO with alert policies gets kpi-operator's default
  multiwindow multi-burn-rate alerts; one without (every v1alpha SLO) gets none, as Sloth does for OpenSLO.

Refused, with the field named: budgeting methods other than ``Occurrences``; calendar windows and
``isRolling: false``; durations in months, quarters or years; more or fewer than one time window; composite SLOs
(an indicator per objective); ``op``/``value`` on a ratio objective (forbidden by OpenSLO v1 itself); metric
sources that are not Prometheus-compatible (the queries would not be PromQL).

SLI, DataSource, Service and alerting documents produce nothing themselves: SLIs and DataSources are looked up
by name when an SLO refers to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from ..api.promql import LABEL_NAME_RE, sanitize_label_name
from .objects import ImportOptions, build_object, choose_owner, namespace_for, percent_from_fraction
from .problem import ImportProblem, join
from .reading import flag, known_fields, mapping, number, sequence, string, string_map
from .window_template import template_window

V1ALPHA = "openslo/v1alpha"
V1 = "openslo/v1"
API_VERSIONS = (V1ALPHA, V1)
PROMQL_SOURCES = ("prometheus", "thanos", "cortex", "mimir", "victoriametrics")
CONTEXT_KINDS = ("SLI", "DataSource", "Service", "AlertPolicy", "AlertCondition", "AlertNotificationTarget")
TARGET_ANNOTATION = "kpi.dev/openslo-target"
TIME_WINDOW_ANNOTATION = "kpi.dev/openslo-time-window"
SERVICE_ANNOTATION = "kpi.dev/openslo-service"
OPERATORS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_V1_DURATION = re.compile(r"^([0-9]+)([mhdwMQY])$")
_V1ALPHA_UNITS = {"Second": "s", "Minute": "m", "Hour": "h", "Day": "d", "Week": "w"}


@dataclass
class References:
    """The SLI and DataSource documents of the whole input, by name, for ``indicatorRef`` and ``metricSourceRef``."""

    slis: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def collect(cls, documents: Iterable[Any]) -> "References":
        found = cls()
        for document in documents:
            if not isinstance(document, dict) or document.get("apiVersion") != V1:
                continue
            metadata = document.get("metadata")
            name = metadata.get("name") if isinstance(metadata, dict) else None
            if not isinstance(name, str):
                continue
            if document.get("kind") == "SLI":
                found.slis[name] = document
            elif document.get("kind") == "DataSource":
                found.data_sources[name] = document
        return found


def convert(document: dict[str, Any], options: ImportOptions = ImportOptions(), references: Optional[References] = None) -> list[dict[str, Any]]:
    """The kpi.dev objects of one OpenSLO document (none for SLI, Service, ... documents)."""
    api_version = document.get("apiVersion")
    kind = document.get("kind")
    if api_version not in API_VERSIONS:
        raise ImportProblem("apiVersion", f"expected one of {', '.join(API_VERSIONS)}, got {api_version!r}")
    if kind in CONTEXT_KINDS:
        return []
    if kind != "SLO":
        raise ImportProblem("kind", f"expected SLO (or one of {', '.join(CONTEXT_KINDS)}), got {kind!r}")
    if api_version == V1ALPHA:
        return _v1alpha(document, options)
    return _v1(document, options, references or References())


# --- shared -----------------------------------------------------------------------------------------------------


def _budgeting(value: Any, path: str) -> None:
    method = string(value, path, required=True)
    if method == "Occurrences":
        return
    if method in ("Timeslices", "RatioTimeslices"):
        raise ImportProblem(
            path,
            f"{method} is not supported yet (only Occurrences): kpi-operator's error budget counts good events over "
            "the window, not good time slices",
        )
    raise ImportProblem(path, f"unknown budgeting method {method!r} (OpenSLO has Occurrences, Timeslices, RatioTimeslices)")


def _calendar_and_rolling(window: dict[str, Any], path: str) -> None:
    if window.get("calendar") is not None:
        raise ImportProblem(
            join(path, "calendar"),
            "calendar-aligned windows are not supported: a kpi.dev SLO window is rolling; use isRolling: true and a duration",
        )
    if window.get("isRolling") is not None and not flag(window.get("isRolling"), join(path, "isRolling")):
        raise ImportProblem(join(path, "isRolling"), "only rolling windows are supported (isRolling: true)")


def _one_window(value: Any, path: str) -> dict[str, Any]:
    windows = sequence(value, path, required=True)
    if len(windows) != 1:
        raise ImportProblem(path, f"exactly one time window is required, got {len(windows)}")
    return mapping(windows[0], join(path, 0), required=True)


def _objective_percent(objective: dict[str, Any], path: str) -> float:
    target = number(objective.get("target"), join(path, "target"))
    percent = number(objective.get("targetPercent"), join(path, "targetPercent"))
    if target is not None and percent is not None:
        raise ImportProblem(path, "give target or targetPercent, not both")
    if target is None and percent is None:
        raise ImportProblem(join(path, "target"), "required field is missing (or give targetPercent)")
    if target is not None:
        if not 0 < target < 1:
            raise ImportProblem(join(path, "target"), f"must be a fraction between 0 and 1 (exclusive), got {target:g}")
        return percent_from_fraction(target)
    assert percent is not None
    if not 0 < percent < 100:
        raise ImportProblem(join(path, "targetPercent"), f"must be between 0 and 100 (exclusive), got {percent:g}")
    return percent


def _threshold_target(objective: dict[str, Any], path: str) -> dict[str, Any]:
    op = string(objective.get("op"), join(path, "op"), required=True)
    if op not in OPERATORS:
        raise ImportProblem(join(path, "op"), f"expected one of {', '.join(OPERATORS)}, got {op!r}")
    value = number(objective.get("value"), join(path, "value"), required=True)
    return {"op": OPERATORS[op], "value": value}


def _no_ratio_operator(objective: dict[str, Any], path: str) -> None:
    for key in ("op", "value"):
        if objective.get(key) is not None:
            raise ImportProblem(
                join(path, key),
                "is forbidden on an objective of a ratioMetric SLI (OpenSLO v1: 'property is forbidden'); "
                "only thresholdMetric objectives compare a value",
            )


def _timeslice_notes(objective: dict[str, Any], path: str) -> list[str]:
    return [
        f"{join(path, key)}: ignored; only Timeslices budgeting uses it"
        for key in ("timeSliceTarget", "timeSliceWindow")
        if objective.get(key) is not None
    ]


def _source_type_problem(source_type: str, path: str) -> ImportProblem:
    return ImportProblem(
        path,
        f"{source_type} is not supported: only Prometheus-compatible sources ({', '.join(PROMQL_SOURCES)}) give PromQL "
        "queries that kpi-operator can turn into rules",
    )


def _labels(value: Any, path: str) -> tuple[dict[str, str], list[str]]:
    """OpenSLO labels (a value may be a list) as Prometheus labels, with a note per renamed key."""
    labels: dict[str, str] = {}
    notes: list[str] = []
    for key, item in mapping(value, path).items():
        key = str(key)
        if isinstance(item, list):
            if not all(isinstance(part, (str, int, float)) and not isinstance(part, bool) for part in item):
                raise ImportProblem(join(path, key), f"expected a string or a list of strings, got {item!r}")
            text = ",".join(str(part) for part in item)
        elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
            text = str(item)
        else:
            raise ImportProblem(join(path, key), f"expected a string or a list of strings, got {item!r}")
        name = key if LABEL_NAME_RE.match(key) else sanitize_label_name(key)
        while name.startswith("__"):  # reserved by Prometheus
            name = name[1:]
        if name != key:
            notes.append(f"{join(path, key)}: renamed to {name!r}, a valid Prometheus label name")
        labels[name] = text
    return labels, notes


def _names(name: str, count: int, always_indexed: bool) -> list[str]:
    if count == 1 and not always_indexed:
        return [name]
    return [f"{name}-{index}" for index in range(count)]


DISABLED_ALERTS = {"pageAlert": {"disabled": True}, "ticketAlert": {"disabled": True}}


# --- v1 ---------------------------------------------------------------------------------------------------------


def _v1(document: dict[str, Any], options: ImportOptions, references: References) -> list[dict[str, Any]]:
    known_fields(document, ("apiVersion", "kind", "metadata", "spec"), "", "an OpenSLO v1 SLO")
    metadata = mapping(document.get("metadata"), "metadata", required=True)
    known_fields(metadata, ("name", "displayName", "labels", "annotations"), "metadata", "OpenSLO v1 metadata")
    name = string(metadata.get("name"), "metadata.name", required=True)
    assert name is not None
    spec = mapping(document.get("spec"), "spec", required=True)
    known_fields(
        spec,
        ("description", "service", "indicator", "indicatorRef", "budgetingMethod", "timeWindow", "objectives", "alertPolicies"),
        "spec",
        "an OpenSLO v1 SLO",
    )
    service = string(spec.get("service"), "spec.service", required=True)
    _budgeting(spec.get("budgetingMethod"), "spec.budgetingMethod")
    window = _v1_window(spec.get("timeWindow"), "spec.timeWindow")
    objectives = sequence(spec.get("objectives"), "spec.objectives", required=True)
    if not objectives:
        raise ImportProblem("spec.objectives", "at least one objective is required")
    for index, objective in enumerate(objectives):
        objective_path = join("spec.objectives", index)
        objective = mapping(objective, objective_path, required=True)
        for key in ("indicator", "indicatorRef", "compositeWeight"):
            if objective.get(key) is not None:
                raise ImportProblem(join(objective_path, key), "composite SLOs (an indicator per objective) are not supported")
    sli_spec, sli_path = _v1_indicator(spec, references)

    labels, notes = _labels(metadata.get("labels"), "metadata.labels")
    annotations = string_map(metadata.get("annotations"), "metadata.annotations")
    owner, owner_note = choose_owner(labels, annotations, options, "an OpenSLO SLO")
    notes += [owner_note] if owner_note else []
    annotations = {key: value for key, value in annotations.items() if key != "kpi.dev/owner"}
    description = string(spec.get("description"), "spec.description") or string(metadata.get("displayName"), "metadata.displayName")
    namespace = namespace_for(options, None)
    source = f"OpenSLO {V1} SLO {name}"
    names = _names(name, len(objectives), always_indexed=False)

    known_fields(sli_spec, ("description", "ratioMetric", "thresholdMetric"), sli_path, "an OpenSLO v1 SLI spec")
    given = [key for key in ("ratioMetric", "thresholdMetric") if sli_spec.get(key) is not None]
    if len(given) != 1:
        raise ImportProblem(sli_path, f"exactly one of ratioMetric, thresholdMetric is required (found: {', '.join(given) or 'none'})")
    # The objectives are checked before the SLI's queries: what OpenSLO itself forbids is the first thing to fix.
    percents = []
    targets = []
    for index, objective in enumerate(objectives):
        objective_path = join("spec.objectives", index)
        known_fields(objective, _V1_OBJECTIVE_FIELDS, objective_path, "an OpenSLO v1 objective")
        if given == ["thresholdMetric"]:
            targets.append(_threshold_target(objective, objective_path))
        else:
            _no_ratio_operator(objective, objective_path)
        percents.append(_objective_percent(objective, objective_path))
    objects = []
    if given == ["thresholdMetric"]:
        query = _v1_query(sli_spec["thresholdMetric"], join(sli_path, "thresholdMetric"), references)
        for index, (objective, object_name) in enumerate(zip(objectives, names)):
            objective_path = join("spec.objectives", index)
            objects.append(
                _kpi(service, object_name, namespace, owner, description, query, targets[index], labels, annotations,
                     percents[index] / 100, window[1], source, notes + _timeslice_notes(objective, objective_path))
            )
        return objects

    indicator = _v1_ratio(mapping(sli_spec["ratioMetric"], join(sli_path, "ratioMetric")), join(sli_path, "ratioMetric"), references)
    policies = sequence(spec.get("alertPolicies"), "spec.alertPolicies")
    if policies:
        alerting: Optional[dict[str, Any]] = None
        notes.append("spec.alertPolicies: not translated (single-window conditions); kpi-operator's default multiwindow multi-burn-rate alerts are used")
    else:
        alerting = DISABLED_ALERTS
        notes.append("spec.alertPolicies: none, so burn-rate alerts are disabled; enable them in spec.alerting")
    for index, (objective, object_name) in enumerate(zip(objectives, names)):
        objective_path = join("spec.objectives", index)
        slo_spec = {
            "service": service,
            "owner": owner,
            "description": description,
            "objective": percents[index],
            "window": window[0],
            "indicator": indicator,
            "labels": labels,
            "alerting": alerting,
        }
        objects.append(
            build_object("SLO", object_name, namespace, slo_spec, source=source, annotations=annotations,
                         notes=notes + _timeslice_notes(objective, objective_path))
        )
    return objects


_V1_OBJECTIVE_FIELDS = (
    "displayName", "op", "value", "target", "targetPercent", "timeSliceTarget", "timeSliceWindow", "indicator", "indicatorRef", "compositeWeight",
)


def _v1_window(value: Any, path: str) -> tuple[str, str]:
    """``(kpi.dev window, OpenSLO spelling)`` of the one rolling time window."""
    window = _one_window(value, path)
    window_path = join(path, 0)
    known_fields(window, ("duration", "isRolling", "calendar"), window_path, "an OpenSLO v1 time window")
    _calendar_and_rolling(window, window_path)
    duration = string(window.get("duration"), join(window_path, "duration"), required=True)
    assert duration is not None
    match = _V1_DURATION.match(duration)
    if not match:
        raise ImportProblem(join(window_path, "duration"), f"expected a number and one of the units m, h, d, w, M, Q, Y (e.g. 28d), got {duration!r}")
    count, unit = match.groups()
    if unit in "MQY":
        raise ImportProblem(
            join(window_path, "duration"),
            f"{duration}: months, quarters and years have no fixed length; give the rolling window in days or weeks (e.g. 30d, 4w)",
        )
    if int(count) == 0:
        raise ImportProblem(join(window_path, "duration"), "must be longer than zero")
    return f"{int(count)}{unit}", duration


def _v1_indicator(spec: dict[str, Any], references: References) -> tuple[dict[str, Any], str]:
    """The SLI spec (inline, or from the referenced SLI document) and the path that names it in messages."""
    inline = spec.get("indicator")
    ref = spec.get("indicatorRef")
    if inline is not None and ref is not None:
        raise ImportProblem("spec.indicator", "give indicator or indicatorRef, not both")
    if inline is None and ref is None:
        raise ImportProblem("spec.indicator", "required field is missing (or give indicatorRef)")
    if inline is not None:
        indicator = mapping(inline, "spec.indicator")
        known_fields(indicator, ("metadata", "spec"), "spec.indicator", "an OpenSLO inline indicator")
        return mapping(indicator.get("spec"), "spec.indicator.spec", required=True), "spec.indicator.spec"
    name = string(ref, "spec.indicatorRef", required=True)
    assert name is not None
    sli = references.slis.get(name)
    if sli is None:
        raise ImportProblem("spec.indicatorRef", f"no SLI named {name!r} in the input; give its file too (-f)")
    path = f"SLI/{name}.spec"
    return mapping(sli.get("spec"), path, required=True), path


def _v1_query(metric: Any, path: str, references: References) -> str:
    metric = mapping(metric, path, required=True)
    known_fields(metric, ("metricSource",), path, "an OpenSLO metric spec")
    source_path = join(path, "metricSource")
    source = mapping(metric.get("metricSource"), source_path, required=True)
    known_fields(source, ("metricSourceRef", "type", "spec"), source_path, "an OpenSLO metric source")
    source_type = string(source.get("type"), join(source_path, "type"))
    ref = string(source.get("metricSourceRef"), join(source_path, "metricSourceRef"))
    if source_type is None and ref is not None and ref in references.data_sources:
        data_source_spec = references.data_sources[ref].get("spec")
        if isinstance(data_source_spec, dict) and isinstance(data_source_spec.get("type"), str):
            source_type = data_source_spec["type"]
    if source_type is None:
        raise ImportProblem(join(source_path, "type"), "required to know the query language (or a metricSourceRef to a DataSource in the input)")
    if source_type.lower() not in PROMQL_SOURCES:
        raise _source_type_problem(source_type, join(source_path, "type"))
    source_spec = mapping(source.get("spec"), join(source_path, "spec"), required=True)
    query = string(source_spec.get("query"), join(source_path, "spec.query"), required=True)
    assert query is not None
    return query


def _v1_ratio(ratio: dict[str, Any], path: str, references: References) -> dict[str, Any]:
    known_fields(ratio, ("counter", "good", "bad", "total", "rawType", "raw"), path, "an OpenSLO v1 ratioMetric")
    counter = flag(ratio.get("counter"), join(path, "counter"))
    query_path = "metricSource.spec.query"
    if ratio.get("raw") is not None:
        for key in ("total", "good", "bad"):
            if ratio.get(key) is not None:
                raise ImportProblem(join(path, key), "cannot be set together with raw (OpenSLO v1)")
        raw_type = string(ratio.get("rawType"), join(path, "rawType"), required=True)
        if raw_type not in ("success", "failure"):
            raise ImportProblem(join(path, "rawType"), f"expected success or failure, got {raw_type!r}")
        query = template_window(_v1_query(ratio["raw"], join(path, "raw"), references), join(join(path, "raw"), query_path)).strip()
        return {"raw": {"errorRatio": query if raw_type == "failure" else f"1 - (\n{query}\n)"}}
    if ratio.get("total") is None:
        raise ImportProblem(join(path, "total"), "required field is missing (or give raw and rawType)")
    given = [key for key in ("good", "bad") if ratio.get(key) is not None]
    if len(given) != 1:
        raise ImportProblem(path, f"exactly one of good, bad is required with total (found: {', '.join(given) or 'none'})")
    part = given[0]
    query = template_window(_v1_query(ratio[part], join(path, part), references), join(join(path, part), query_path), counter).strip()
    total = template_window(_v1_query(ratio["total"], join(path, "total"), references), join(join(path, "total"), query_path), counter).strip()
    if part == "bad":
        return {"ratio": {"errors": query, "total": total}}
    return {"ratio": {"errors": f"({total})\n-\n({query})", "total": total}}


def _kpi(
    service: Optional[str],
    name: str,
    namespace: str,
    owner: str,
    description: Optional[str],
    query: str,
    target: dict[str, Any],
    labels: dict[str, str],
    annotations: dict[str, str],
    fraction: float,
    time_window: str,
    source: str,
    notes: list[str],
) -> dict[str, Any]:
    spec = {"owner": owner, "description": description, "query": query.strip(), "target": target, "labels": labels}
    notes = notes + [
        "spec.unit: OpenSLO has no unit, so the KPI's unit is the default (ratio); set the real one",
        f"objective target {fraction:g} (share of good events) and time window {time_window} have no KPI counterpart; "
        f"kept in the {TARGET_ANNOTATION} and {TIME_WINDOW_ANNOTATION} annotations",
    ]
    annotations = {**annotations, TARGET_ANNOTATION: f"{fraction:g}", TIME_WINDOW_ANNOTATION: time_window}
    if service:
        annotations[SERVICE_ANNOTATION] = service
    return build_object("KPI", name, namespace, spec, source=source, annotations=annotations, notes=notes)


# --- v1alpha ----------------------------------------------------------------------------------------------------


def _v1alpha(document: dict[str, Any], options: ImportOptions) -> list[dict[str, Any]]:
    known_fields(document, ("apiVersion", "kind", "metadata", "spec"), "", "an OpenSLO v1alpha SLO")
    metadata = mapping(document.get("metadata"), "metadata", required=True)
    known_fields(metadata, ("name", "displayName"), "metadata", "OpenSLO v1alpha metadata")
    name = string(metadata.get("name"), "metadata.name", required=True)
    assert name is not None
    spec = mapping(document.get("spec"), "spec", required=True)
    known_fields(spec, ("description", "service", "indicator", "timeWindows", "budgetingMethod", "objectives"), "spec", "an OpenSLO v1alpha SLO")
    service = string(spec.get("service"), "spec.service", required=True)
    _budgeting(spec.get("budgetingMethod"), "spec.budgetingMethod")
    window = _v1alpha_window(spec.get("timeWindows"), "spec.timeWindows")
    objectives = sequence(spec.get("objectives"), "spec.objectives", required=True)
    if not objectives:
        raise ImportProblem("spec.objectives", "at least one objective is required")
    owner, owner_note = choose_owner({}, {}, options, "an OpenSLO SLO")
    notes = [owner_note] if owner_note else []
    description = string(spec.get("description"), "spec.description") or string(metadata.get("displayName"), "metadata.displayName")
    namespace = namespace_for(options, None)
    source = f"OpenSLO {V1ALPHA} SLO {name}"
    names = _names(name, len(objectives), always_indexed=True)
    threshold = mapping(mapping(spec.get("indicator"), "spec.indicator").get("thresholdMetric"), "spec.indicator.thresholdMetric")
    objects = []
    for index, (objective, object_name) in enumerate(zip(objectives, names)):
        path = join("spec.objectives", index)
        objective = mapping(objective, path, required=True)
        known_fields(objective, ("displayName", "op", "value", "target", "timeSliceTarget", "ratioMetrics"), path, "an OpenSLO v1alpha objective")
        extra = _timeslice_notes(objective, path)
        if objective.get("ratioMetrics") is None:
            if not threshold:
                raise ImportProblem(join(path, "ratioMetrics"), "required field is missing (or give spec.indicator.thresholdMetric)")
            query = _v1alpha_query(threshold, "spec.indicator.thresholdMetric")
            fraction = _objective_percent(objective, path) / 100
            objects.append(
                _kpi(service, object_name, namespace, owner, description, query, _threshold_target(objective, path), {}, {}, fraction, window[1], source, notes + extra)
            )
            continue
        _no_ratio_operator(objective, path)
        ratio_path = join(path, "ratioMetrics")
        ratio = mapping(objective["ratioMetrics"], ratio_path)
        known_fields(ratio, ("good", "total", "incremental"), ratio_path, "OpenSLO v1alpha ratioMetrics")
        counter = flag(ratio.get("incremental"), join(ratio_path, "incremental"))
        good = template_window(_v1alpha_query(ratio.get("good"), join(ratio_path, "good")), join(ratio_path, "good.query"), counter).strip()
        total = template_window(_v1alpha_query(ratio.get("total"), join(ratio_path, "total")), join(ratio_path, "total.query"), counter).strip()
        slo_spec = {
            "service": service,
            "owner": owner,
            "description": description,
            "objective": _objective_percent(objective, path),
            "window": window[0],
            "indicator": {"raw": {"errorRatio": f"1 - (\n  ({good})\n  /\n  ({total})\n)\n"}},
            "alerting": DISABLED_ALERTS,
        }
        objects.append(
            build_object("SLO", object_name, namespace, slo_spec, source=source,
                         notes=notes + extra + ["OpenSLO v1alpha has no alert policies: burn-rate alerts are disabled, as Sloth does; enable them in spec.alerting"])
        )
    return objects


def _v1alpha_window(value: Any, path: str) -> tuple[str, str]:
    window = _one_window(value, path)
    window_path = join(path, 0)
    known_fields(window, ("count", "unit", "isRolling", "calendar"), window_path, "an OpenSLO v1alpha time window")
    _calendar_and_rolling(window, window_path)
    count = number(window.get("count"), join(window_path, "count"), required=True)
    unit = string(window.get("unit"), join(window_path, "unit"), required=True)
    assert count is not None and unit is not None
    if unit in ("Month", "Quarter", "Year"):
        raise ImportProblem(join(window_path, "unit"), f"{unit}s have no fixed length; give the rolling window in Day or Week")
    if unit not in _V1ALPHA_UNITS:
        raise ImportProblem(join(window_path, "unit"), f"expected one of {', '.join(_V1ALPHA_UNITS)}, got {unit!r}")
    if count != int(count) or count <= 0:
        raise ImportProblem(join(window_path, "count"), f"must be a whole number above zero, got {count:g}")
    duration = f"{int(count)}{_V1ALPHA_UNITS[unit]}"
    return duration, duration


def _v1alpha_query(metric: Any, path: str) -> str:
    metric = mapping(metric, path, required=True)
    known_fields(metric, ("source", "queryType", "query", "metadata"), path, "an OpenSLO v1alpha metric")
    source = string(metric.get("source"), join(path, "source"), required=True)
    assert source is not None
    if source.lower() not in PROMQL_SOURCES:
        raise _source_type_problem(source, join(path, "source"))
    query_type = string(metric.get("queryType"), join(path, "queryType"))
    if query_type is not None and query_type.lower() != "promql":
        raise ImportProblem(join(path, "queryType"), f"only promql queries are supported, got {query_type!r}")
    query = string(metric.get("query"), join(path, "query"), required=True)
    assert query is not None
    return query
