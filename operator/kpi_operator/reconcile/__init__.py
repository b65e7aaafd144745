"""Pure reconcile planning: an object's body in; the PrometheusRule, status and Events to write out. No I/O."""

from .plan import (
    ReconcilePlan,
    RuleOwnership,
    Serving,
    adoption_checked,
    next_serving,
    plan_reconcile,
    resolve_rule_conflict,
    rule_ownership,
    rule_write_failed,
)
from .rule_diff import rule_differs

__all__ = [
    "ReconcilePlan",
    "RuleOwnership",
    "Serving",
    "adoption_checked",
    "next_serving",
    "plan_reconcile",
    "resolve_rule_conflict",
    "rule_differs",
    "rule_ownership",
    "rule_write_failed",
]
