"""Pure reconcile planning: an object's body in; the PrometheusRule, status and Events to write out. No I/O."""

from .conditions import set_condition
from .plan import ReconcilePlan, plan_reconcile

__all__ = ["ReconcilePlan", "plan_reconcile", "set_condition"]
