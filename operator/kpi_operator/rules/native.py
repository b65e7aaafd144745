"""The ``native`` rule schema for SLOs: this project's own record names (documented in docs/rule-schema-native.md).

Choices that differ from Sloth, and why:

- Every series carries ``slo_namespace``, ``slo_name`` and ``slo_service``, so two namespaces can both have an
  SLO ``availability`` for service ``api`` without their series colliding.
- Error and total event rates are recorded separately (``slo:error_events:rate5m``, ``slo:total_events:rate5m``)
  and ratios are taken of those, so the period's ratio is a ratio of sums (true event counts), not an average
  of 5-minute ratios that weights a quiet night like a busy noon.
- The period window (30d) is computed from the recorded shortest-window series with ``sum_over_time`` rather
  than as a raw ``rate(x[30d])`` over raw series.
- A missing error series (no 5xx has ever been seen) counts as zero errors, not as no data: the error rate is
  ``errors or 0 * total``.
"""

from __future__ import annotations

from typing import Any

from ..api.models import SLO
from ..api.promql import format_float
from . import sli
from .compiled import CompiledSLO, WindowPair, compile_slo
from .naming import SERIES_LIMIT, camel_case, group_name, selector, template_literal, template_literals
from .records import BUDGET_REMAINING, ERROR_BUDGET, ERROR_EVENTS, ERROR_RATIO, OBJECTIVE, TOTAL_EVENTS
from .records import SLO_INFO as INFO

__all__ = [
    "BUDGET_REMAINING",
    "ERROR_BUDGET",
    "ERROR_EVENTS",
    "ERROR_RATIO",
    "INFO",
    "OBJECTIVE",
    "TOTAL_EVENTS",
    "alert_name",
    "alert_rules",
    "group_names",
    "identity_labels",
    "meta_rules",
    "series_labels",
    "sli_rules",
    "slo_groups",
]


def identity_labels(slo: SLO) -> dict[str, str]:
    """The labels that say which SLO a series belongs to."""
    return {
        "slo_namespace": slo.metadata.namespace,
        "slo_name": slo.metadata.name,
        "slo_service": slo.spec.service,
    }


def series_labels(slo: SLO) -> dict[str, str]:
    """Labels written on every recorded series: the user's ``spec.labels``, then the identity (which wins)."""
    return {**slo.spec.labels, **identity_labels(slo)}


def alert_name(slo: SLO) -> str:
    return slo.spec.alerting.name or f"{camel_case(slo.metadata.name)}ErrorBudgetBurn"


def _record(name: str, expr: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": dict(labels)}


def sli_rules(slo: SLO) -> list[dict[str, Any]]:
    """Recording rules for every alert window and for the period."""
    labels = series_labels(slo)
    ident = selector(identity_labels(slo))
    compiled = compile_slo(slo)
    has_events = sli.has_events(slo)
    rules: list[dict[str, Any]] = []
    for window in compiled.recorded_windows:
        records = compiled.native_records[window]
        if has_events:
            errors = sli.error_query(slo, window)
            total = sli.total_query(slo, window)
            rules.append(_record(records.error_events, f"({errors})\nor\n0 * ({total})", labels))
            rules.append(_record(records.total_events, str(total), labels))
            rules.append(
                _record(
                    records.error_ratio,
                    f"{records.error_events}{ident}\n/\n{records.total_events}{ident}",
                    labels,
                )
            )
        else:
            rules.append(_record(records.error_ratio, str(sli.raw_ratio_query(slo, window)), labels))
    if not compiled.period_is_recorded:
        period = compiled.period
        base = compiled.native_records[compiled.shortest_window]
        records = compiled.native_records[period]
        if has_events:
            errors_base = f"{base.error_events}{ident}"
            total_base = f"{base.total_events}{ident}"
            rules.append(_record(records.error_events, f"avg_over_time({errors_base}[{period}])", labels))
            rules.append(_record(records.total_events, f"avg_over_time({total_base}[{period}])", labels))
            rules.append(
                _record(
                    records.error_ratio,
                    f"sum_over_time({errors_base}[{period}])\n/\nsum_over_time({total_base}[{period}])",
                    labels,
                )
            )
        else:
            ratio_base = f"{base.error_ratio}{ident}"
            rules.append(_record(records.error_ratio, f"avg_over_time({ratio_base}[{period}])", labels))
    return rules


def meta_rules(slo: SLO, definition_version: int = 1) -> list[dict[str, Any]]:
    """Objective, error budget, remaining budget and an info series (owner, objective, window, version)."""
    labels = series_labels(slo)
    ident = selector(identity_labels(slo))
    compiled = compile_slo(slo)
    period = compiled.period
    budget = compiled.error_budget
    info_labels = {
        **labels,
        "owner": slo.spec.owner,
        "objective": format_float(slo.spec.objective),
        "window": period,
        "indicator": slo.spec.indicator.kind,
        "definition_version": str(definition_version),
    }
    return [
        _record(OBJECTIVE, f"vector({format_float(compiled.objective_ratio)})", labels),
        _record(ERROR_BUDGET, f"vector({format_float(budget)})", labels),
        _record(
            BUDGET_REMAINING,
            f"1 - {compiled.native_records[period].error_ratio}{ident} / {format_float(budget)}",
            labels,
        ),
        _record(INFO, "vector(1)", info_labels),
    ]


def _pair_condition(slo: SLO, compiled: CompiledSLO, pair: WindowPair, ident: str) -> str:
    threshold = f"({format_float(pair.factor)} * {format_float(compiled.error_budget)})"
    long_records = compiled.native_records[pair.long]
    lines = [
        f"{compiled.native_records[pair.short].error_ratio}{ident} > {threshold}",
        "and",
        f"{long_records.error_ratio}{ident} > {threshold}",
    ]
    min_events = slo.spec.alerting.min_events
    if min_events:
        seconds = format_float(compiled.window_seconds[pair.long])
        lines += ["and", f"{long_records.total_events}{ident} * {seconds} >= {min_events}"]
    return "(\n" + "\n".join("  " + line for line in lines) + "\n)"


_TIER_SEVERITY = {"page": "critical", "ticket": "warning"}


def alert_rules(slo: SLO) -> list[dict[str, Any]]:
    """One burn-rate alert per enabled tier, plus the no-data alert when asked for."""
    alerting = slo.spec.alerting
    ident = selector(identity_labels(slo))
    compiled = compile_slo(slo)
    rules: list[dict[str, Any]] = []
    for tier_windows in compiled.enabled_tiers():
        tier = tier_windows.tier
        settings = alerting.page_alert if tier == "page" else alerting.ticket_alert
        expr = "\nor\n".join(_pair_condition(slo, compiled, pair, ident) for pair in tier_windows.pairs)
        rule: dict[str, Any] = {
            "alert": alert_name(slo),
            "expr": expr,
        }
        if settings.for_:
            rule["for"] = settings.for_
        rule["labels"] = {
            **template_literals(slo.spec.labels),
            "severity": _TIER_SEVERITY[tier],
            **alerting.labels,
            **settings.labels,
            "slo_tier": tier,
        }
        rule["annotations"] = {
            "summary": f"{template_literal(slo.spec.service)} SLO {slo.metadata.name} is burning its error budget too fast ({tier}).",
            "description": (
                f"{{{{$labels.slo_namespace}}}}/{{{{$labels.slo_name}}}}: the error ratio is above "
                f"the {tier} burn-rate threshold for objective {format_float(slo.spec.objective)}% over {compiled.period}."
            ),
            **alerting.annotations,
            **settings.annotations,
        }
        rules.append(rule)
    no_data = alerting.no_data
    if no_data is not None and not no_data.disabled:
        base = compiled.native_records[compiled.shortest_window]
        record = base.total_events if sli.has_events(slo) else base.error_ratio
        rules.append(
            {
                "alert": f"{alert_name(slo)}NoData",
                "expr": f"absent({record}{ident})",
                "for": no_data.for_,
                "labels": {
                    **template_literals(slo.spec.labels),
                    "severity": "warning",
                    **alerting.labels,
                    **no_data.labels,
                    **template_literals(identity_labels(slo)),
                    # The tier, by a label the user cannot set (``slo_tier`` is reserved): the evaluation never
                    # reads meaning into an alert's name, which the user chooses.
                    "slo_tier": "noData",
                },
                "annotations": {
                    "summary": f"{template_literal(slo.spec.service)} SLO {slo.metadata.name} has no SLI data.",
                    "description": "The SLI's series are absent: the exporter, the scrape or the query may be broken.",
                    **alerting.annotations,
                    **no_data.annotations,
                },
            }
        )
    return rules


def group_names(slo: SLO) -> list[str]:
    """The SLO's rule groups in the native schema: SLI records, meta records, alerts."""
    ns, name = slo.metadata.namespace, slo.metadata.name
    return [group_name(prefix, ns, name) for prefix in ("kpi-operator-slo-sli", "kpi-operator-slo-meta", "kpi-operator-slo-alerts")]


def slo_groups(slo: SLO, definition_version: int = 1) -> list[dict[str, Any]]:
    """All rule groups of one SLO in the native schema. The record groups are limited to ``SERIES_LIMIT`` series
    per rule: a grouping by a label of unbounded values must not slow every object's read-back."""
    sli_group, meta_group, alerts_group = group_names(slo)
    groups = [
        {"name": sli_group, "limit": SERIES_LIMIT, "rules": sli_rules(slo)},
        {"name": meta_group, "limit": SERIES_LIMIT, "rules": meta_rules(slo, definition_version)},
    ]
    alerts = alert_rules(slo)
    if alerts:
        groups.append({"name": alerts_group, "rules": alerts})
    return groups
