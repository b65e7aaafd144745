"""Pure reconcile planning: an object's body in; the PrometheusRule, status and Events to write out. No I/O."""

from .conditions import set_condition
from .plan import ReconcilePlan, plan_reconcile, rule_taken_by

__all__ = ["ReconcilePlan", "plan_reconcile", "rule_taken_by", "set_condition"]
