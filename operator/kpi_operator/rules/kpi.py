"""Rules for a KPI: its value as a recording rule, an info series, and threshold alerts.

The value is recorded under one name for every KPI (``kpi:value``) with identifying labels, so the operator reads
all KPI values with one query. Alerts fire on the bad side of the target: for ``op: ">="`` a value below the
warning threshold warns and below critical is critical; with no thresholds, one critical alert at the target.
"""

from __future__ import annotations

from typing import Any

from ..api.comparison import BREACH_OP
from ..api.models import KPI
from ..api.promql import format_float, render_window
from .compiled import compile_kpi
from .naming import SERIES_LIMIT, camel_case, group_name, selector, template_literal, template_literals
from .records import KPI_INFO as INFO
from .records import KPI_VALUE as VALUE


def group_names(kpi: KPI) -> list[str]:
    """The KPI's rule groups: its records (limited to ``SERIES_LIMIT`` series per rule), then its alerts."""
    ns, name = kpi.metadata.namespace, kpi.metadata.name
    return [group_name("kpi-operator-kpi", ns, name), group_name("kpi-operator-kpi-alerts", ns, name)]


def identity_labels(kpi: KPI) -> dict[str, str]:
    return {"kpi_namespace": kpi.metadata.namespace, "kpi_name": kpi.metadata.name}


def series_labels(kpi: KPI) -> dict[str, str]:
    return {**kpi.spec.labels, **identity_labels(kpi)}


def breach_levels(kpi: KPI) -> list[tuple[str, float]]:
    """(severity, bound) pairs the value is compared against: the thresholds, or the target as critical."""
    thresholds = kpi.spec.thresholds
    levels = []
    if thresholds is not None:
        if thresholds.warning is not None:
            levels.append(("warning", thresholds.warning))
        if thresholds.critical is not None:
            levels.append(("critical", thresholds.critical))
    if not levels:
        levels.append(("critical", kpi.spec.target.value))
    return levels


def kpi_groups(kpi: KPI, definition_version: int = 1) -> list[dict[str, Any]]:
    labels = series_labels(kpi)
    ident = selector(identity_labels(kpi))
    spec = kpi.spec
    info_labels = {
        **labels,
        "owner": spec.owner,
        "unit": spec.unit,
        "op": spec.target.op,
        "target": format_float(spec.target.value),
        "definition_version": str(definition_version),
    }
    records = [
        {"record": VALUE, "expr": render_window(spec.query, spec.window).strip(), "labels": labels},
        {"record": INFO, "expr": "vector(1)", "labels": info_labels},
    ]
    breach = BREACH_OP[spec.target.op]
    alert_for = compile_kpi(kpi).alert_for
    alerts = []
    for severity, bound in breach_levels(kpi):
        rule: dict[str, Any] = {
            "alert": f"{camel_case(kpi.metadata.name)}KPIBreach",
            "expr": f"{VALUE}{ident} {breach} {format_float(bound)}",
        }
        if alert_for is not None:
            rule["for"] = alert_for
        rule["labels"] = {**template_literals(spec.labels), "severity": severity}
        rule["annotations"] = {
            "summary": f"KPI {kpi.metadata.name} is {severity}: value {{{{ $value }}}} {breach} {format_float(bound)} (target {spec.target.op} {format_float(spec.target.value)}).",
            "description": template_literal(spec.description or f"KPI {kpi.metadata.namespace}/{kpi.metadata.name} owned by {spec.owner}."),
            **spec.annotations,
        }
        alerts.append(rule)
    records_group, alerts_group = group_names(kpi)
    return [
        {"name": records_group, "limit": SERIES_LIMIT, "rules": records},
        {"name": alerts_group, "rules": alerts},
    ]
