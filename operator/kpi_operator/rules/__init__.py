"""Pure rule generation: model -> Prometheus rule groups -> PrometheusRule objects. No I/O.

``generate_groups`` is the one entry point the CLI and the operator call; the schema modules (``native``,
``sloth``) and ``kpi`` are its parts.
"""

from __future__ import annotations

import json
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
        return check_rule_size(obj, kpi_rules.kpi_groups(obj, definition_version))
    check_tiers_can_fire(obj)
    chosen = obj.spec.rule_schema or schema
    if chosen == "sloth":
        return check_rule_size(obj, sloth.slo_groups(obj))
    return check_rule_size(obj, native.slo_groups(obj, definition_version))


#: The most a PrometheusRule's groups may weigh (JSON). The API server refuses objects near 1.5 MiB (etcd), and
#: prometheus-operator packs rule files into ConfigMaps of at most 0.5 MiB; alert annotations are copied to every
#: alert of the object, so a large annotation counts several times.
RULE_SIZE_LIMIT = 256 * 1024


def _largest_field(value: Any, path: str) -> tuple[int, str]:
    if isinstance(value, dict):
        return max((_largest_field(v, f"{path}.{k}") for k, v in value.items()), default=(0, path))
    if isinstance(value, list):
        return max((_largest_field(v, f"{path}[{i}]") for i, v in enumerate(value)), default=(0, path))
    return (len(str(value)), path)


def check_rule_size(obj: Union[SLO, KPI], groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``groups``, or ``SchemaError`` naming the largest spec field when they weigh more than
    ``RULE_SIZE_LIMIT``: a clear reason on the object, before the API server refuses the PrometheusRule."""
    size = len(json.dumps(groups, separators=(",", ":")))
    if size > RULE_SIZE_LIMIT:
        length, path = _largest_field(obj.spec.model_dump(by_alias=True, exclude_none=True), "spec")
        raise SchemaError(
            path,
            f"the generated rules would be {size // 1024} KiB, over the {RULE_SIZE_LIMIT // 1024} KiB a PrometheusRule may "
            f"have here; this field is the largest ({length} characters; alert annotations and labels are copied to "
            "every alert): shorten it, or link to a runbook instead",
        )
    return groups


def group_names(obj: Union[SLO, KPI], schema: RuleSchema = "native") -> list[str]:
    """The names of the rule groups ``generate_groups`` writes for the object (whether or not an alert group is
    written): how rule health read from Prometheus is mapped back to objects."""
    if isinstance(obj, KPI):
        return kpi_rules.group_names(obj)
    if (obj.spec.rule_schema or schema) == "sloth":
        return sloth.group_names(obj)
    return native.group_names(obj)


__all__ = [
    "RULE_SCHEMAS",
    "RULE_SIZE_LIMIT",
    "RuleSchema",
    "SchemaError",
    "build_prometheus_rule",
    "build_rule_file",
    "check_rule_size",
    "burn_rate_factor",
    "generate_groups",
    "group_names",
    "window_pairs",
]
