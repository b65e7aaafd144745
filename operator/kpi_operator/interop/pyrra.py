"""Pyrra ``pyrra.dev/v1alpha1`` ``ServiceLevelObjective`` -> a kpi.dev SLO.

What maps to what:

- ``target`` (a string of percent, ``"99.5"``) -> ``objective``; ``window`` -> ``window``; ``description``;
- ``ratio`` (``errors.metric`` / ``total.metric``, counter selectors) -> ``ratio`` ``errorsMetric`` /
  ``totalMetric``: the selector form, from which the generator builds ``sum(rate(...))`` as Pyrra does;
- ``latency`` (``success.metric`` = ``<h>_bucket{...,le="x"}``, ``total.metric`` = ``<h>_count{...}``) ->
  ``latency`` with ``histogram: <h>``, the total's matchers as ``selector`` and ``threshold: x``;
- ``latencyNative`` (``latency: 200ms``, ``total.metric`` a native histogram) -> ``latency`` with
  ``native: true`` and the threshold in seconds;
- ``bool_gauge`` (a 0/1 gauge such as ``probe_success``) -> ``ratio`` over samples, the expression Pyrra uses:
  errors ``count_over_time - sum_over_time``, total ``count_over_time``. With ``grouping`` it is refused: kpi.dev
  groups only indicators whose queries the generator builds (counter selectors, histograms), and a gauge is
  neither; drop the grouping for one SLO over all series, or split the SLO per label value;
- ``grouping`` -> ``indicator.grouping``;
- labels: ``metadata.labels`` prefixed ``pyrra.dev/`` are the ones Pyrra puts on its rules, so they become
  ``spec.labels`` (prefix removed); the other labels stay object labels (copied to the PrometheusRule, where
  Prometheus' ruleSelector looks). Annotations prefixed ``pyrra.dev/`` become alert annotations, as in Pyrra;
- ``spec.service``: Pyrra has none; it is a ``pyrra.dev/service``, ``service`` or ``app.kubernetes.io/name``
  label, else the total metric's ``job="..."`` matcher, else the object's name (with a note);
- alerting: ``name`` (Pyrra's default ``ErrorBudgetBurn`` is kept, so Alertmanager routes still match);
  ``disabled`` or ``burnrates: false`` -> both tiers disabled; ``absent`` (default true) -> ``noData`` with
  Pyrra's ``for`` (2m at 28d, scaled with the window); ``severities`` -> each tier's ``severity`` label
  (critical / warning by default). Pyrra's own four windows and factors (14, 7, 2, 1; 5m/1h, 30m/6h, 2h/1d,
  6h/4d at 28d, scaled with the window and rounded to the minute as Pyrra does) become the tiers' ``windows``,
  so the alerts fire when Pyrra's would. kpi.dev has one ``for`` per tier, not per window pair: each tier takes
  the shorter of its two (noted).

Options with no counterpart are noted and ignored: ``performanceOverAccuracy``, ``partial_response_strategy``,
``ruleOutput``, ``alerting.absentName``. Pyrra also treats labels with regex matchers as grouping labels in some
rules; the import uses only the ``grouping`` given. ``pyrra_spec`` holds the model every document is parsed into
first, so a field Pyrra does not have is refused there, naming it.
"""

from __future__ import annotations

from typing import Any, Optional

import promql_parser

from ..api.durations import DurationError, format_duration_ms, parse_duration_ms
from ..api.promql import WINDOW_VAR, check_limits, escape_label_value
from .objects import ImportOptions, build_object, choose_owner, namespace_for
from .problem import ImportProblem, join
from .pyrra_spec import API_VERSION, KIND, Alerting, Indicator, Metric, ServiceLevelObjective
from .spec_model import parse

PROPAGATION_PREFIX = "pyrra.dev/"
DEFAULT_ALERT_NAME = "ErrorBudgetBurn"
SERVICE_LABELS = ("pyrra.dev/service", "service", "app.kubernetes.io/name")

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_BASE = 28 * _DAY
# Pyrra's burn-rate alerts at a 28d window: (tier, short, long, for, factor).
PYRRA_WINDOWS = (
    ("page", 5 * _MINUTE, _HOUR, 2 * _MINUTE, 14),
    ("page", 30 * _MINUTE, 6 * _HOUR, 15 * _MINUTE, 7),
    ("ticket", 2 * _HOUR, _DAY, _HOUR, 2),
    ("ticket", 6 * _HOUR, 4 * _DAY, 3 * _HOUR, 1),
)
_ABSENT_FOR = 2 * _MINUTE
_MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def convert(document: dict[str, Any], options: ImportOptions = ImportOptions()) -> list[dict[str, Any]]:
    """The SLO object of one Pyrra ServiceLevelObjective; raises ``ImportProblem`` naming the Pyrra field."""
    if document.get("apiVersion") != API_VERSION:
        raise ImportProblem("apiVersion", f"expected {API_VERSION}, got {document.get('apiVersion')!r}")
    if document.get("kind") != KIND:
        raise ImportProblem("kind", f"expected {KIND}, got {document.get('kind')!r}")
    slo = parse(ServiceLevelObjective, document)
    metadata, spec = slo.metadata, slo.spec
    rule_output_set = spec.rule_output is not None and bool(spec.rule_output.model_fields_set)
    notes = [
        f"spec.{key}: no counterpart in kpi-operator; ignored"
        for key, used in (
            ("partial_response_strategy", spec.partial_response_strategy == "warn"),
            ("performanceOverAccuracy", bool(spec.performance_over_accuracy)),
            ("ruleOutput", rule_output_set),
        )
        if used
    ]
    try:
        window_ms = parse_duration_ms(spec.window)
    except DurationError as error:
        raise ImportProblem("spec.window", str(error)) from None
    indicator, main_selector = _indicator(spec.indicator, "spec.indicator")

    labels = {key[len(PROPAGATION_PREFIX):]: value for key, value in metadata.labels.items() if key.startswith(PROPAGATION_PREFIX)}
    object_labels = {key: value for key, value in metadata.labels.items() if not key.startswith(PROPAGATION_PREFIX)}
    alert_annotations = {key[len(PROPAGATION_PREFIX):]: value for key, value in metadata.annotations.items() if key.startswith(PROPAGATION_PREFIX)}
    owner, owner_note = choose_owner({**object_labels, **labels}, {}, options, "a Pyrra SLO")
    notes += [owner_note] if owner_note else []
    service, service_note = _service(metadata.labels, main_selector, metadata.name)
    notes += [service_note] if service_note else []
    alerting, alert_notes = _alerting(spec.alerting, "spec.alerting", window_ms, alert_annotations)
    notes += alert_notes
    slo_spec = {
        "service": service,
        "owner": owner,
        "description": spec.description,
        "objective": spec.target,
        "window": spec.window,
        "indicator": indicator,
        "labels": labels,
        "alerting": alerting,
    }
    source = f"Pyrra {KIND} {metadata.namespace or 'default'}/{metadata.name}"
    return [build_object("SLO", metadata.name, namespace_for(options, metadata.namespace), slo_spec, source=source, labels=object_labels, notes=notes)]


# --- indicators -------------------------------------------------------------------------------------------------


class _Selector:
    """A parsed ``metric{matchers}``: its name and matchers as ``(label, op, value)``."""

    def __init__(self, text: str, path: str):
        limit = check_limits(text)
        if limit:
            raise ImportProblem(path, limit)
        try:
            expr = promql_parser.parse(text)
        except Exception as error:
            raise ImportProblem(path, f"not a PromQL selector: {error}") from None
        if type(expr).__name__ != "VectorSelector" or not expr.name:
            raise ImportProblem(path, f'must be a metric selector such as http_requests_total{{job="api"}}, got {text!r}')
        if expr.matchers.or_matchers:
            raise ImportProblem(path, "selectors with 'or' are not supported")
        self.text = text.strip()
        self.name: str = expr.name
        self.matchers = [(m.name, _MATCH_OPS[str(m.op)], m.value) for m in expr.matchers.matchers if m.name != "__name__"]

    def render(self, without: tuple[str, ...] = ()) -> str:
        return "{" + ",".join(f"{label}{op}{escape_label_value(value)}" for label, op, value in self.matchers if label not in without) + "}"

    def equal_value(self, label: str) -> Optional[str]:
        for name, op, value in self.matchers:
            if name == label and op == "=":
                return value
        return None


def _selector(metric: Metric, path: str) -> _Selector:
    return _Selector(metric.metric, join(path, "metric"))


def _indicator(indicator: Indicator, path: str) -> tuple[dict[str, Any], _Selector]:
    """The kpi.dev indicator and the selector whose ``job`` may name the service."""
    given = [
        key
        for key, value in (("ratio", indicator.ratio), ("latency", indicator.latency), ("latencyNative", indicator.latency_native), ("bool_gauge", indicator.bool_gauge))
        if value is not None
    ]
    if len(given) != 1:
        raise ImportProblem(path, f"exactly one of ratio, latency, latencyNative, bool_gauge is required (found: {', '.join(given) or 'none'})")
    kind_path = join(path, given[0])
    result: dict[str, Any]
    if indicator.ratio is not None:
        errors = _selector(indicator.ratio.errors, join(kind_path, "errors"))
        main = _selector(indicator.ratio.total, join(kind_path, "total"))
        result = {"ratio": {"errorsMetric": errors.text, "totalMetric": main.text}}
        grouping = indicator.ratio.grouping
    elif indicator.latency is not None:
        success = _selector(indicator.latency.success, join(kind_path, "success"))
        main = _selector(indicator.latency.total, join(kind_path, "total"))
        result = {"latency": _classic_latency(success, main, join(kind_path, "success.metric"), join(kind_path, "total.metric"))}
        grouping = indicator.latency.grouping
    elif indicator.latency_native is not None:
        try:
            threshold = parse_duration_ms(indicator.latency_native.latency) / 1000
        except DurationError as error:
            raise ImportProblem(join(kind_path, "latency"), str(error)) from None
        main = _selector(indicator.latency_native.total, join(kind_path, "total"))
        result = {"latency": {"histogram": main.name, "selector": main.render(), "threshold": threshold, "native": True}}
        grouping = indicator.latency_native.grouping
    else:
        assert indicator.bool_gauge is not None
        main = _Selector(indicator.bool_gauge.metric, join(kind_path, "metric"))
        grouping = indicator.bool_gauge.grouping
        if grouping:
            raise ImportProblem(
                join(kind_path, "grouping"),
                "grouping a bool_gauge is not supported: kpi.dev groups only indicators whose queries the generator builds "
                "(counter selectors, histograms), and a gauge is neither. Drop grouping for one SLO over all series, "
                "or write one SLO per label value",
            )
        window = f"[{WINDOW_VAR}]"
        result = {
            "ratio": {
                "errors": f"sum(count_over_time({main.text}{window}))\n-\nsum(sum_over_time({main.text}{window}))",
                "total": f"sum(count_over_time({main.text}{window}))",
            }
        }
    if grouping:
        result["grouping"] = list(grouping)
    return result, main


def _classic_latency(success: _Selector, total: _Selector, success_path: str, total_path: str) -> dict[str, Any]:
    if not success.name.endswith("_bucket"):
        raise ImportProblem(success_path, f"must be a histogram's _bucket series with an le matcher, got {success.name}")
    base = success.name[: -len("_bucket")]
    if total.name != f"{base}_count":
        raise ImportProblem(total_path, f"must be the same histogram's {base}_count series, got {total.name}")
    le = [(op, value) for label, op, value in success.matchers if label == "le"]
    if len(le) != 1 or le[0][0] != "=":
        raise ImportProblem(success_path, 'needs exactly one le="<bucket bound>" matcher')
    try:
        threshold = float(le[0][1])
    except ValueError:
        raise ImportProblem(success_path, f"le must be a number, got {le[0][1]!r}") from None
    if not 0 < threshold < float("inf"):
        raise ImportProblem(success_path, f"le must be a finite bucket bound above zero, got {le[0][1]!r}")
    if sorted(m for m in success.matchers if m[0] != "le") != sorted(total.matchers):
        raise ImportProblem(success_path, f"must select the same series as {total_path} apart from le")
    return {"histogram": base, "selector": total.render(), "threshold": threshold}


# --- service, alerting ------------------------------------------------------------------------------------------


def _service(labels: dict[str, str], selector: _Selector, name: str) -> tuple[str, Optional[str]]:
    for key in SERVICE_LABELS:
        if labels.get(key):
            return labels[key], None
    job = selector.equal_value("job")
    if job:
        return job, f"spec.service: Pyrra has no service; taken from the job matcher ({job!r})"
    return name, f"spec.service: Pyrra has no service and there is no job matcher; set to the SLO's name ({name!r})"


def _scaled(duration_ms: int, window_ms: int) -> int:
    """A 28d duration scaled to the SLO window and rounded to the minute, half away from zero (Go's Round)."""
    scaled = duration_ms * window_ms // _BASE
    minutes, rest = divmod(scaled, _MINUTE)
    return (minutes + (1 if rest * 2 >= _MINUTE else 0)) * _MINUTE


def _alerting(alerting: Alerting, path: str, window_ms: int, annotations: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    severities = alerting.severities
    name = alerting.name or DEFAULT_ALERT_NAME
    result: dict[str, Any] = {"name": name}
    if annotations:
        result["annotations"] = annotations
    disabled = alerting.disabled
    burnrates_on = alerting.burnrates is not False
    absent_on = alerting.absent is not False

    tiers: dict[str, list[tuple[int, int, int, float]]] = {"page": [], "ticket": []}
    for tier, short, long, for_, factor in PYRRA_WINDOWS:
        scaled_short, scaled_long = _scaled(short, window_ms), _scaled(long, window_ms)
        if scaled_short <= 0:
            raise ImportProblem("spec.window", "too short for Pyrra's burn-rate windows (the shortest rounds to zero minutes)")
        tiers[tier].append((scaled_short, scaled_long, _scaled(for_, window_ms), factor))
    for tier, key, (fast, fast_severity), (slow, slow_severity), default_severity in (
        ("page", "pageAlert", ("fastBurn", severities.fast_burn), ("mediumBurn", severities.medium_burn), "critical"),
        ("ticket", "ticketAlert", ("slowBurn", severities.slow_burn), ("longTermBurn", severities.long_term_burn), "warning"),
    ):
        pairs = tiers[tier]
        settings: dict[str, Any] = {}
        if disabled or not burnrates_on:
            settings["disabled"] = True
        severity = fast_severity or slow_severity or default_severity
        if fast_severity and slow_severity and fast_severity != slow_severity:
            notes.append(f"{join(path, 'severities')}: kpi.dev has one severity per tier; {key} uses {fast}'s {fast_severity!r}")
        settings["labels"] = {"severity": severity}
        fors = [pair[2] for pair in pairs if pair[2] > 0]
        if fors:
            settings["for"] = format_duration_ms(min(fors))
            if len(set(pair[2] for pair in pairs)) > 1:
                notes.append(
                    f"spec.alerting: {key}.for is {format_duration_ms(min(fors))} for both window pairs "
                    f"(Pyrra: {' and '.join(format_duration_ms(pair[2]) for pair in pairs)})"
                )
        settings["windows"] = [
            {
                "long": format_duration_ms(long),
                "short": format_duration_ms(short),
                "budgetPercent": round(factor * long / window_ms * 100, 10),
            }
            for short, long, _, factor in pairs
        ]
        result[key] = settings
    if absent_on and not disabled:
        result["noData"] = {"for": format_duration_ms(max(_scaled(_ABSENT_FOR, window_ms), _MINUTE)), "labels": {"severity": severities.absent or "critical"}}
        notes.append(f"{path}.absent: Pyrra's absent alert ({alerting.absent_name or 'SLOMetricAbsent'}) becomes {name}NoData")
    elif alerting.absent_name:
        notes.append(f"{path}.absentName: ignored, the absent alert is off")
    return result, notes
