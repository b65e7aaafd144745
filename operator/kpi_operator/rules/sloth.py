"""The ``sloth`` rule schema: the record names, labels, group names and alert expressions of Sloth v0.16.

Sloth users keep their dashboards and their series history when they move to kpi-operator: for the same SLO
this module writes the rules Sloth writes (``tests/golden/test_sloth_compat.py`` compares them with Sloth's own
golden files). The SLO's ``metadata.name`` plays the part of Sloth's SLO name and ``spec.service`` of Sloth's
service. What Sloth cannot express is refused here with a message, not approximated: ``indicator.grouping`` and
``alerting.minEvents`` need the native schema. ``alerting.noData`` adds one alert beside Sloth's two.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..api.models import SLO
from ..api.promql import format_float
from . import sli
from .compiled import WindowPair, compile_slo
from .naming import camel_case, selector, template_literals
from .records import (
    ERROR_BUDGET,
    OBJECTIVE,
    SLOTH_BUDGET_REMAINING,
    SLOTH_CURRENT_BURN_RATE,
    SLOTH_INFO,
    SLOTH_PERIOD_BURN_RATE,
    SLOTH_PERIOD_DAYS,
)
from .records import SLOTH_SLI_ERROR as SLI_RECORD

__all__ = [
    "SLI_RECORD",
    "SchemaError",
    "alert_rules",
    "check_expressible",
    "group_names",
    "identity_labels",
    "meta_rules",
    "sli_rules",
    "slo_groups",
    "sloth_id",
]


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
    compiled = compile_slo(slo)
    period = compiled.period
    # A long window equal to the period is written once, in the period's form below (twice would be two rules
    # recording one series).
    rules = [
        {"record": compiled.sloth_records[window], "expr": _sli_expr(slo, window), "labels": _labels(slo, sloth_window=window)}
        for window in compiled.recorded_windows
        if window != period
    ]
    base = compiled.sloth_records[compiled.shortest_window]
    rules.append(
        {
            "record": compiled.sloth_records[period],
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
    compiled = compile_slo(slo)
    objective = format_float(compiled.objective_ratio)
    labels = _labels(slo)
    on = "on(sloth_id, sloth_slo, sloth_service) group_left"
    return [
        {"record": OBJECTIVE, "expr": f"vector({objective})", "labels": labels},
        {"record": ERROR_BUDGET, "expr": f"vector(1-{objective})", "labels": labels},
        {"record": SLOTH_PERIOD_DAYS, "expr": f"vector({format_float(compiled.period_days)})", "labels": labels},
        {
            "record": SLOTH_CURRENT_BURN_RATE,
            "expr": f"{compiled.sloth_records[compiled.shortest_window]}{ident}\n/ {on}\n{ERROR_BUDGET}{ident}\n",
            "labels": labels,
        },
        {
            "record": SLOTH_PERIOD_BURN_RATE,
            "expr": f"{compiled.sloth_records[compiled.period]}{ident}\n/ {on}\n{ERROR_BUDGET}{ident}\n",
            "labels": labels,
        },
        {"record": SLOTH_BUDGET_REMAINING, "expr": f"1 - {SLOTH_PERIOD_BURN_RATE}{ident}", "labels": labels},
        {
            "record": SLOTH_INFO,
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


def _pair(pair: WindowPair, sli_records: Mapping[str, str], ident: str, budget: str) -> str:
    def side(window: str) -> str:
        return f"    max({sli_records[window]}{ident} > ({format_float(pair.factor)} * {budget})) without (sloth_window)"

    return f"(\n{side(pair.short)}\n    and\n{side(pair.long)}\n)"


def alert_rules(slo: SLO) -> list[dict[str, Any]]:
    alerting = slo.spec.alerting
    ident = selector(identity_labels(slo))
    compiled = compile_slo(slo)
    budget = format_float(compiled.error_budget)
    name = alerting.name or f"{camel_case(slo.metadata.name)}ErrorBudgetBurn"
    rules: list[dict[str, Any]] = []
    for tier_windows in compiled.enabled_tiers():
        tier = tier_windows.tier
        settings = alerting.page_alert if tier == "page" else alerting.ticket_alert
        expr = "\nor\n".join(_pair(pair, compiled.sloth_records, ident, budget) for pair in tier_windows.pairs)
        rule: dict[str, Any] = {"alert": name, "expr": expr + "\n"}
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
                "expr": f"absent({compiled.sloth_records[compiled.shortest_window]}{ident})",
                "for": no_data.for_,
                "labels": dict(
                    sorted(
                        {
                            **alerting.labels,
                            **no_data.labels,
                            "sloth_severity": "ticket",
                            **template_literals(identity_labels(slo)),
                            "slo_tier": "noData",  # the tier by a reserved label, never by the alert's name
                        }.items()
                    )
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
    sli_group, meta_group, alerts_group = group_names(slo)
    groups = [
        {"name": sli_group, "rules": sli_rules(slo)},
        {"name": meta_group, "rules": meta_rules(slo, **info)},
    ]
    alerts = alert_rules(slo)
    if alerts:
        groups.append({"name": alerts_group, "rules": alerts})
    return groups


def group_names(slo: SLO) -> list[str]:
    """Sloth's group names for the SLO: SLI records, meta records, alerts. Sloth sets no ``limit`` on its groups,
    and this schema keeps Sloth's groups exactly."""
    suffix = sloth_id(slo)
    return [f"sloth-slo-sli-recordings-{suffix}", f"sloth-slo-meta-recordings-{suffix}", f"sloth-slo-alerts-{suffix}"]
