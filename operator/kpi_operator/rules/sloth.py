"""The ``sloth`` rule schema: the record names, labels, group names and alert expressions of Sloth v0.16.

Sloth users keep their dashboards and their series history when they move to kpi-operator: for the same SLO
this module writes the rules Sloth writes (``tests/golden/test_sloth_compat.py`` compares them with Sloth's own
golden files). The SLO's ``metadata.name`` plays the part of Sloth's SLO name and ``spec.service`` of Sloth's
service. What Sloth cannot express is refused here with a message, not approximated: ``indicator.grouping`` and
``alerting.minEvents`` need the native schema. ``alerting.noData`` adds one alert beside Sloth's two.
"""

from __future__ import annotations

from typing import Any

from ..api.durations import parse_duration_ms
from ..api.models import SLO
from ..api.promql import format_float
from . import sli
from .naming import camel_case, selector, template_literals
from .windows import WindowPair, period_window, recorded_windows, window_pairs

SLI_RECORD = "slo:sli_error:ratio_rate{window}"


class SchemaError(ValueError):
    """The SLO uses a feature the chosen rule schema cannot express; ``path`` names the field."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def check_expressible(slo: SLO) -> None:
    """Raise ``SchemaError`` for features Sloth's schema has no names for."""
    if slo.spec.indicator.grouping:
        raise SchemaError("spec.indicator.grouping", "the sloth rule schema has no grouping; use ruleSchema native")
    if slo.spec.alerting.min_events is not None:
        raise SchemaError("spec.alerting.minEvents", "the sloth rule schema has no low-traffic guard; use ruleSchema native")


def sloth_id(slo: SLO) -> str:
    return f"{slo.spec.service}-{slo.metadata.name}"


def identity_labels(slo: SLO) -> dict[str, str]:
    return {"sloth_id": sloth_id(slo), "sloth_service": slo.spec.service, "sloth_slo": slo.metadata.name}


def _labels(slo: SLO, **extra: str) -> dict[str, str]:
    return dict(sorted({**slo.spec.labels, **identity_labels(slo), **extra}.items()))


def _sli_expr(slo: SLO, window: str) -> str:
    if sli.has_events(slo):
        return f"({sli.error_query(slo, window)})\n/\n({sli.total_query(slo, window)})\n"
    return f"({sli.raw_ratio_query(slo, window)})"


def sli_rules(slo: SLO) -> list[dict[str, Any]]:
    ident = selector(identity_labels(slo))
    period = period_window(slo)
    # A long window equal to the period is written once, in the period's form below (twice would be two rules
    # recording one series).
    rules = [
        {"record": SLI_RECORD.format(window=window), "expr": _sli_expr(slo, window), "labels": _labels(slo, sloth_window=window)}
        for window in recorded_windows(slo)
        if window != period
    ]
    base = SLI_RECORD.format(window=recorded_windows(slo)[0])
    rules.append(
        {
            "record": SLI_RECORD.format(window=period),
            "expr": (
                f"sum_over_time({base}{ident}[{period}])\n/ ignoring (sloth_window)\n"
                f"count_over_time({base}{ident}[{period}])\n"
            ),
            "labels": _labels(slo, sloth_window=period),
        }
    )
    return rules


def meta_rules(slo: SLO, mode: str = "cli-gen-prom", spec: str = "prometheus/v1", version: str = "kpi-operator") -> list[dict[str, Any]]:
    """Sloth's meta recordings; ``mode``, ``spec`` and ``version`` fill the ``sloth_slo_info`` labels of those names."""
    ident = selector(identity_labels(slo))
    objective = format_float(slo.spec.objective / 100)
    period = period_window(slo)
    labels = _labels(slo)
    on = "on(sloth_id, sloth_slo, sloth_service) group_left"
    days = parse_duration_ms(slo.spec.window) / (24 * 3600 * 1000)
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({objective})", "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{objective})", "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({format_float(days)})", "labels": labels},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"{SLI_RECORD.format(window=recorded_windows(slo)[0])}{ident}\n/ {on}\nslo:error_budget:ratio{ident}\n",
            "labels": labels,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"{SLI_RECORD.format(window=period)}{ident}\n/ {on}\nslo:error_budget:ratio{ident}\n",
            "labels": labels,
        },
        {"record": "slo:period_error_budget_remaining:ratio", "expr": f"1 - slo:period_burn_rate:ratio{ident}", "labels": labels},
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": _labels(
                slo,
                sloth_mode=mode,
                sloth_objective=format_float(slo.spec.objective),
                sloth_spec=spec,
                sloth_version=version,
            ),
        },
    ]


def _pair(pair: WindowPair, ident: str, budget: str) -> str:
    def side(window: str) -> str:
        return (
            f"    max({SLI_RECORD.format(window=window)}{ident} > ({format_float(pair.factor)} * {budget})) without (sloth_window)"
        )

    return f"(\n{side(pair.short)}\n    and\n{side(pair.long)}\n)"


def alert_rules(slo: SLO) -> list[dict[str, Any]]:
    alerting = slo.spec.alerting
    ident = selector(identity_labels(slo))
    budget = format_float((100 - slo.spec.objective) / 100)
    name = alerting.name or f"{camel_case(slo.metadata.name)}ErrorBudgetBurn"
    rules: list[dict[str, Any]] = []
    for tier, pairs in window_pairs(slo, include_disabled=False).items():
        settings = alerting.page_alert if tier == "page" else alerting.ticket_alert
        rule: dict[str, Any] = {"alert": name, "expr": "\nor\n".join(_pair(p, ident, budget) for p in pairs) + "\n"}
        if settings.for_:
            rule["for"] = settings.for_
        rule["labels"] = dict(sorted({**alerting.labels, **settings.labels, "sloth_severity": tier}.items()))
        rule["annotations"] = dict(
            sorted(
                {
                    "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.",
                    "title": f"({tier}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast.",
                    **alerting.annotations,
                    **settings.annotations,
                }.items()
            )
        )
        rules.append(rule)
    no_data = alerting.no_data
    if no_data is not None and not no_data.disabled:
        rules.append(
            {
                "alert": f"{name}NoData",
                "expr": f"absent({SLI_RECORD.format(window=recorded_windows(slo)[0])}{ident})",
                "for": no_data.for_,
                "labels": dict(
                    sorted({**alerting.labels, **no_data.labels, "sloth_severity": "ticket", **template_literals(identity_labels(slo))}.items())
                ),
                "annotations": {
                    "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO has no SLI data.",
                    **alerting.annotations,
                    **no_data.annotations,
                },
            }
        )
    return rules


def slo_groups(slo: SLO, **info: str) -> list[dict[str, Any]]:
    """All rule groups of one SLO in Sloth's schema, named as Sloth names them."""
    check_expressible(slo)
    suffix = sloth_id(slo)
    groups = [
        {"name": f"sloth-slo-sli-recordings-{suffix}", "rules": sli_rules(slo)},
        {"name": f"sloth-slo-meta-recordings-{suffix}", "rules": meta_rules(slo, **info)},
    ]
    alerts = alert_rules(slo)
    if alerts:
        groups.append({"name": f"sloth-slo-alerts-{suffix}", "rules": alerts})
    return groups
