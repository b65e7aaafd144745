"""Pure rule generation: model -> Prometheus rule groups -> PrometheusRule objects. No I/O.

``generate_groups`` is the one entry point the CLI and the operator call; the schema modules (``native``,
``sloth``) and ``kpi`` are its parts.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from ..api.models import KPI, SLO
from . import kpi as kpi_rules
from . import native, sloth
from .feasibility import check_tiers_can_fire
from .prometheus_rule import build_prometheus_rule, build_rule_file
from .sloth import SchemaError
from .windows import burn_rate_factor, window_pairs

RuleSchema = Literal["native", "sloth"]
RULE_SCHEMAS: tuple[str, ...] = ("native", "sloth")


def generate_groups(obj: Union[SLO, KPI], schema: RuleSchema = "native", definition_version: int = 1) -> list[dict[str, Any]]:
    """The rule groups of one object. An SLO's own ``spec.ruleSchema`` wins over ``schema``.

    Raises ``SchemaError`` when the SLO uses something its schema cannot express, or when an alert tier of it can
    never fire (``feasibility``).
    """
    if isinstance(obj, KPI):
        return kpi_rules.kpi_groups(obj, definition_version)
    check_tiers_can_fire(obj)
    chosen = obj.spec.rule_schema or schema
    if chosen == "sloth":
        return sloth.slo_groups(obj)
    return native.slo_groups(obj, definition_version)


__all__ = [
    "RULE_SCHEMAS",
    "RuleSchema",
    "SchemaError",
    "build_prometheus_rule",
    "build_rule_file",
    "burn_rate_factor",
    "generate_groups",
    "window_pairs",
]
