"""Pure evaluation: the PromQL the operator reads, samples -> series per object -> status, and each cycle's
plan of status writes. No I/O.

``queries`` (the constant handful of queries a cycle sends) -> ``collect`` (samples back to objects) ->
``evaluate`` (one object's numbers and state) -> ``cycle`` (which statuses to write). ``direct`` is the
evaluation without recording rules, for ``kpi-operator gate`` in a pipeline.
"""

from .collect import Key, ObjectSeries, Sample, collect, key_of
from .cycle import CyclePlan, Tracked, changed, clock_disagreement, kpi_history_after, plan_cycle, plan_outage, plan_status
from .evaluate import evaluate, evaluate_kpi, evaluate_slo, kpi_state

__all__ = [
    "CyclePlan",
    "Key",
    "ObjectSeries",
    "Sample",
    "Tracked",
    "changed",
    "collect",
    "evaluate",
    "evaluate_kpi",
    "evaluate_slo",
    "key_of",
    "clock_disagreement",
    "kpi_history_after",
    "kpi_state",
    "plan_cycle",
    "plan_outage",
    "plan_status",
]
