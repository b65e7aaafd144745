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
by name when an SLO refers to them. ``openslo_spec`` holds the models every document is parsed into first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Union

from ..api.promql import LABEL_NAME_RE, sanitize_label_name
from .objects import ImportOptions, build_object, choose_owner, namespace_for, percent_from_fraction
from .openslo_spec import (
    V1,
    V1ALPHA,
    DataSourceDocument,
    Metric,
    PrometheusQuery,
    RatioMetric,
    SliDocument,
    SliSpec,
    Slo,
    SloSpec,
    TimeWindow,
    V1alphaMetric,
    V1alphaSlo,
    V1alphaTimeWindow,
)
from .problem import ImportProblem, join
from .spec_model import parse
from .window_template import template_window

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
    """The SLI and DataSource documents of the whole input, by name, for ``indicatorRef`` and ``metricSourceRef``.

    Each is parsed once, when collected; one that does not parse is kept as its problem, reported (at
    ``SLI/<name>.<field>``) by every SLO that refers to it, since an SLI on its own produces nothing.
    """

    slis: dict[str, Union[SliDocument, ImportProblem]] = field(default_factory=dict)
    data_sources: dict[str, Union[DataSourceDocument, ImportProblem]] = field(default_factory=dict)

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
                found.slis[name] = _parsed(SliDocument, document, f"SLI/{name}")
            elif document.get("kind") == "DataSource":
                found.data_sources[name] = _parsed(DataSourceDocument, document, f"DataSource/{name}")
        return found

    def sli(self, name: str) -> Optional[SliDocument]:
        return _found(self.slis.get(name))

    def data_source(self, name: str) -> Optional[DataSourceDocument]:
        return _found(self.data_sources.get(name))


def _parsed(model: Any, document: dict[str, Any], at: str) -> Any:
    try:
        return parse(model, document, at)
    except ImportProblem as problem:
        return problem


def _found(entry: Any) -> Any:
    if isinstance(entry, ImportProblem):
        raise ImportProblem(entry.path, entry.message)
    return entry


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
        return _v1alpha(parse(V1alphaSlo, document), options)
    return _v1(parse(Slo, document), options, references or References())


# --- shared -----------------------------------------------------------------------------------------------------


def _budgeting(method: str, path: str) -> None:
    if method != "Occurrences":
        raise ImportProblem(
            path,
            f"{method} is not supported yet (only Occurrences): kpi-operator's error budget counts good events over "
            "the window, not good time slices",
        )


def _one_window(windows: list[Any], path: str) -> Any:
    if len(windows) != 1:
        raise ImportProblem(path, f"exactly one time window is required, got {len(windows)}")
    window = windows[0]
    window_path = join(path, 0)
    if window.calendar is not None:
        raise ImportProblem(
            join(window_path, "calendar"),
            "calendar-aligned windows are not supported: a kpi.dev SLO window is rolling; use isRolling: true and a duration",
        )
    if window.is_rolling is False:
        raise ImportProblem(join(window_path, "isRolling"), "only rolling windows are supported (isRolling: true)")
    return window


def _objective_percent(target: Optional[float], percent: Optional[float], path: str) -> float:
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


def _threshold_target(op: Optional[str], value: Optional[float], path: str) -> dict[str, Any]:
    if op is None:
        raise ImportProblem(join(path, "op"), "required field is missing")
    if value is None:
        raise ImportProblem(join(path, "value"), "required field is missing")
    return {"op": OPERATORS[op], "value": value}


def _no_ratio_operator(op: Optional[str], value: Optional[float], path: str) -> None:
    for key, given in (("op", op), ("value", value)):
        if given is not None:
            raise ImportProblem(
                join(path, key),
                "is forbidden on an objective of a ratioMetric SLI (OpenSLO v1: 'property is forbidden'); "
                "only thresholdMetric objectives compare a value",
            )


def _timeslice_notes(path: str, fields: dict[str, Any]) -> list[str]:
    return [f"{join(path, key)}: ignored; only Timeslices budgeting uses it" for key, value in fields.items() if value is not None]


def _source_type_problem(source_type: str, path: str) -> ImportProblem:
    return ImportProblem(
        path,
        f"{source_type} is not supported: only Prometheus-compatible sources ({', '.join(PROMQL_SOURCES)}) give PromQL "
        "queries that kpi-operator can turn into rules",
    )


def _labels(values: dict[str, Union[str, list[str]]], path: str) -> tuple[dict[str, str], list[str]]:
    """OpenSLO labels (a value may be a list) as Prometheus labels, with a note per renamed key."""
    labels: dict[str, str] = {}
    notes: list[str] = []
    for key, value in values.items():
        name = key if LABEL_NAME_RE.match(key) else sanitize_label_name(key)
        while name.startswith("__"):  # reserved by Prometheus
            name = name[1:]
        if name != key:
            notes.append(f"{join(path, key)}: renamed to {name!r}, a valid Prometheus label name")
        labels[name] = ",".join(value) if isinstance(value, list) else value
    return labels, notes


def _names(name: str, count: int, always_indexed: bool) -> list[str]:
    if count == 1 and not always_indexed:
        return [name]
    return [f"{name}-{index}" for index in range(count)]


DISABLED_ALERTS = {"pageAlert": {"disabled": True}, "ticketAlert": {"disabled": True}}


# --- v1 ---------------------------------------------------------------------------------------------------------


def _v1(slo: Slo, options: ImportOptions, references: References) -> list[dict[str, Any]]:
    metadata, spec = slo.metadata, slo.spec
    name = metadata.name
    _budgeting(spec.budgeting_method, "spec.budgetingMethod")
    window = _v1_window(spec.time_window, "spec.timeWindow")
    objectives = spec.objectives
    if not objectives:
        raise ImportProblem("spec.objectives", "at least one objective is required")
    for index, objective in enumerate(objectives):
        for key, value in (("indicator", objective.indicator), ("indicatorRef", objective.indicator_ref), ("compositeWeight", objective.composite_weight)):
            if value is not None:
                raise ImportProblem(join(join("spec.objectives", index), key), "composite SLOs (an indicator per objective) are not supported")
    sli_spec, sli_path = _v1_indicator(spec, references)

    labels, notes = _labels(metadata.labels, "metadata.labels")
    owner, owner_note = choose_owner(labels, metadata.annotations, options, "an OpenSLO SLO")
    notes += [owner_note] if owner_note else []
    annotations = {key: value for key, value in metadata.annotations.items() if key != "kpi.dev/owner"}
    description = spec.description or metadata.display_name
    namespace = namespace_for(options, None)
    source = f"OpenSLO {V1} SLO {name}"
    names = _names(name, len(objectives), always_indexed=False)

    given = [key for key, value in (("ratioMetric", sli_spec.ratio_metric), ("thresholdMetric", sli_spec.threshold_metric)) if value is not None]
    if len(given) != 1:
        raise ImportProblem(sli_path, f"exactly one of ratioMetric, thresholdMetric is required (found: {', '.join(given) or 'none'})")
    # The objectives are checked before the SLI's queries: what OpenSLO itself forbids is the first thing to fix.
    percents = []
    targets = []
    for index, objective in enumerate(objectives):
        objective_path = join("spec.objectives", index)
        if sli_spec.threshold_metric is not None:
            targets.append(_threshold_target(objective.op, objective.value, objective_path))
        else:
            _no_ratio_operator(objective.op, objective.value, objective_path)
        percents.append(_objective_percent(objective.target, objective.target_percent, objective_path))
    timeslice_notes = [
        _timeslice_notes(join("spec.objectives", index), {"timeSliceTarget": objective.time_slice_target, "timeSliceWindow": objective.time_slice_window})
        for index, objective in enumerate(objectives)
    ]
    if sli_spec.threshold_metric is not None:
        query = _v1_query(sli_spec.threshold_metric, join(sli_path, "thresholdMetric"), references)
        return [
            _kpi(spec.service, object_name, namespace, owner, description, query, targets[index], labels, annotations,
                 percents[index] / 100, window[1], source, notes + timeslice_notes[index])
            for index, object_name in enumerate(names)
        ]

    assert sli_spec.ratio_metric is not None
    indicator = _v1_ratio(sli_spec.ratio_metric, join(sli_path, "ratioMetric"), references)
    if spec.alert_policies:
        alerting: Optional[dict[str, Any]] = None
        notes.append("spec.alertPolicies: not translated (single-window conditions); kpi-operator's default multiwindow multi-burn-rate alerts are used")
    else:
        alerting = DISABLED_ALERTS
        notes.append("spec.alertPolicies: none, so burn-rate alerts are disabled; enable them in spec.alerting")
    objects = []
    for index, object_name in enumerate(names):
        slo_spec = {
            "service": spec.service,
            "owner": owner,
            "description": description,
            "objective": percents[index],
            "window": window[0],
            "indicator": indicator,
            "labels": labels,
            "alerting": alerting,
        }
        objects.append(build_object("SLO", object_name, namespace, slo_spec, source=source, annotations=annotations, notes=notes + timeslice_notes[index]))
    return objects


def _v1_window(windows: list[TimeWindow], path: str) -> tuple[str, str]:
    """``(kpi.dev window, OpenSLO spelling)`` of the one rolling time window."""
    duration = _one_window(windows, path).duration
    duration_path = join(join(path, 0), "duration")
    match = _V1_DURATION.match(duration)
    if not match:
        raise ImportProblem(duration_path, f"expected a number and one of the units m, h, d, w, M, Q, Y (e.g. 28d), got {duration!r}")
    count, unit = match.groups()
    if unit in "MQY":
        raise ImportProblem(
            duration_path,
            f"{duration}: months, quarters and years have no fixed length; give the rolling window in days or weeks (e.g. 30d, 4w)",
        )
    if int(count) == 0:
        raise ImportProblem(duration_path, "must be longer than zero")
    return f"{int(count)}{unit}", duration


def _v1_indicator(spec: SloSpec, references: References) -> tuple[SliSpec, str]:
    """The SLI spec (inline, or from the referenced SLI document) and the path that names it in messages."""
    if spec.indicator is not None and spec.indicator_ref is not None:
        raise ImportProblem("spec.indicator", "give indicator or indicatorRef, not both")
    if spec.indicator is not None:
        return spec.indicator.spec, "spec.indicator.spec"
    if spec.indicator_ref is None:
        raise ImportProblem("spec.indicator", "required field is missing (or give indicatorRef)")
    sli = references.sli(spec.indicator_ref)
    if sli is None:
        raise ImportProblem("spec.indicatorRef", f"no SLI named {spec.indicator_ref!r} in the input; give its file too (-f)")
    return sli.spec, f"SLI/{spec.indicator_ref}.spec"


def _v1_query(metric: Metric, path: str, references: References) -> str:
    source = metric.metric_source
    source_path = join(path, "metricSource")
    source_type = source.type
    if source_type is None and source.metric_source_ref is not None:
        data_source = references.data_source(source.metric_source_ref)
        if data_source is not None:
            source_type = data_source.spec.type
    if source_type is None:
        raise ImportProblem(join(source_path, "type"), "required to know the query language (or a metricSourceRef to a DataSource in the input)")
    if source_type.lower() not in PROMQL_SOURCES:
        raise _source_type_problem(source_type, join(source_path, "type"))
    return parse(PrometheusQuery, source.spec, join(source_path, "spec")).query


def _v1_ratio(ratio: RatioMetric, path: str, references: References) -> dict[str, Any]:
    query_path = "metricSource.spec.query"
    if ratio.raw is not None:
        for key, value in (("total", ratio.total), ("good", ratio.good), ("bad", ratio.bad)):
            if value is not None:
                raise ImportProblem(join(path, key), "cannot be set together with raw (OpenSLO v1)")
        if ratio.raw_type is None:
            raise ImportProblem(join(path, "rawType"), "required field is missing")
        query = template_window(_v1_query(ratio.raw, join(path, "raw"), references), join(join(path, "raw"), query_path)).strip()
        return {"raw": {"errorRatio": query if ratio.raw_type == "failure" else f"1 - (\n{query}\n)"}}
    if ratio.total is None:
        raise ImportProblem(join(path, "total"), "required field is missing (or give raw and rawType)")
    given = [(key, value) for key, value in (("good", ratio.good), ("bad", ratio.bad)) if value is not None]
    if len(given) != 1:
        raise ImportProblem(path, f"exactly one of good, bad is required with total (found: {', '.join(key for key, _ in given) or 'none'})")
    part, metric = given[0]
    query = template_window(_v1_query(metric, join(path, part), references), join(join(path, part), query_path), ratio.counter).strip()
    total = template_window(_v1_query(ratio.total, join(path, "total"), references), join(join(path, "total"), query_path), ratio.counter).strip()
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


def _v1alpha(slo: V1alphaSlo, options: ImportOptions) -> list[dict[str, Any]]:
    metadata, spec = slo.metadata, slo.spec
    _budgeting(spec.budgeting_method, "spec.budgetingMethod")
    window = _v1alpha_window(spec.time_windows, "spec.timeWindows")
    if not spec.objectives:
        raise ImportProblem("spec.objectives", "at least one objective is required")
    owner, owner_note = choose_owner({}, {}, options, "an OpenSLO SLO")
    notes = [owner_note] if owner_note else []
    description = spec.description or metadata.display_name
    namespace = namespace_for(options, None)
    source = f"OpenSLO {V1ALPHA} SLO {metadata.name}"
    names = _names(metadata.name, len(spec.objectives), always_indexed=True)
    threshold = spec.indicator.threshold_metric if spec.indicator is not None else None
    objects = []
    for index, (objective, object_name) in enumerate(zip(spec.objectives, names)):
        path = join("spec.objectives", index)
        extra = _timeslice_notes(path, {"timeSliceTarget": objective.time_slice_target})
        ratio = objective.ratio_metrics
        if ratio is None:
            if threshold is None:
                raise ImportProblem(join(path, "ratioMetrics"), "required field is missing (or give spec.indicator.thresholdMetric)")
            query = _v1alpha_query(threshold, "spec.indicator.thresholdMetric")
            fraction = _objective_percent(objective.target, None, path) / 100
            target = _threshold_target(objective.op, objective.value, path)
            objects.append(_kpi(spec.service, object_name, namespace, owner, description, query, target, {}, {}, fraction, window, source, notes + extra))
            continue
        _no_ratio_operator(objective.op, objective.value, path)
        ratio_path = join(path, "ratioMetrics")
        good = template_window(_v1alpha_query(ratio.good, join(ratio_path, "good")), join(ratio_path, "good.query"), ratio.incremental).strip()
        total = template_window(_v1alpha_query(ratio.total, join(ratio_path, "total")), join(ratio_path, "total.query"), ratio.incremental).strip()
        slo_spec = {
            "service": spec.service,
            "owner": owner,
            "description": description,
            "objective": _objective_percent(objective.target, None, path),
            "window": window,
            "indicator": {"raw": {"errorRatio": f"1 - (\n  ({good})\n  /\n  ({total})\n)\n"}},
            "alerting": DISABLED_ALERTS,
        }
        objects.append(
            build_object("SLO", object_name, namespace, slo_spec, source=source,
                         notes=notes + extra + ["OpenSLO v1alpha has no alert policies: burn-rate alerts are disabled, as Sloth does; enable them in spec.alerting"])
        )
    return objects


def _v1alpha_window(windows: list[V1alphaTimeWindow], path: str) -> str:
    window = _one_window(windows, path)
    window_path = join(path, 0)
    if window.unit in ("Month", "Quarter", "Year"):
        raise ImportProblem(join(window_path, "unit"), f"{window.unit}s have no fixed length; give the rolling window in Day or Week")
    if window.count != int(window.count) or window.count <= 0:
        raise ImportProblem(join(window_path, "count"), f"must be a whole number above zero, got {window.count:g}")
    return f"{int(window.count)}{_V1ALPHA_UNITS[window.unit]}"


def _v1alpha_query(metric: V1alphaMetric, path: str) -> str:
    if metric.source.lower() not in PROMQL_SOURCES:
        raise _source_type_problem(metric.source, join(path, "source"))
    if metric.query_type is not None and metric.query_type.lower() != "promql":
        raise ImportProblem(join(path, "queryType"), f"only promql queries are supported, got {metric.query_type!r}")
    return metric.query
