"""The one evaluation loop of the operator: read the recorded series of every object, run the gates, write the
statuses the cycle's plan says changed.

Each cycle sends the constant queries of ``evaluation.queries`` (three, whatever the number of objects, and now
and then one read of rule health, ``evaluation.rule_health``, to say why an object's rules record nothing); the
mapping back to objects, the numbers, and which statuses to write are pure (``evaluation``). Prometheus
unreachable: every object goes ``Unknown`` with the reason (``evaluation.plan_outage``), the loop backs off
(doubling, at most ten intervals, ``backoff``) and recovers by itself; it tells ``/healthz`` when it begins a step
and how long it sleeps, so an outage never fails the liveness probe. The canary gates run on the same readings
(``gate_loop``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Awaitable, Iterable, Optional

from ..adapters.prometheus import PrometheusUnavailable
from ..api.models import KPI
from ..api.status import AnyStatus, GateStatus
from ..evaluation import Key, clock_disagreement, collect, evaluate, kpi_history_after, plan_cycle, plan_outage
from ..evaluation.collect import ObjectSeries
from ..evaluation.queries import CYCLE_QUERIES
from ..evaluation.rule_health import RuleProblem, rule_problems
from .gate_loop import GateResult, NamespaceReads, run_gate
from .state import Entry, Runtime

logger = logging.getLogger("kpi_operator.evaluation")

RULE_HEALTH_INTERVALS = 10  # rule health is read at most once in this many intervals
CONCURRENT_WRITES = 16  # status patches in flight at once: a cycle over 1,000 SLOs must not be 1,000 round trips


async def _beat_then(runtime: Runtime, step: Awaitable[Any]) -> Any:
    """``step`` as one step of the cycle (``/healthz`` sees the loop make progress)."""
    runtime.telemetry.beat()
    return await step


async def _bounded(coroutines: Iterable[Awaitable[Any]], limit: int) -> None:
    """Run the coroutines with at most ``limit`` in flight."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine: Awaitable[Any]) -> None:
        async with semaphore:
            await coroutine

    await asyncio.gather(*(one(c) for c in coroutines))


def backoff(interval: float, failures: int) -> float:
    """Seconds to wait after ``failures`` failed cycles in a row: doubling from one interval, at most ten
    intervals and at most five minutes (but never under one interval). ``/healthz`` counts the wait as alive."""
    if failures <= 0:
        return interval
    return min(interval * (2 ** min(failures - 1, 32)), interval * 10, max(interval, 300.0))


def next_wait(interval: float, failures: int, elapsed: float) -> float:
    """The sleep before the next cycle: the rest of the interval after a good cycle, the backoff after a failed one."""
    return max(0.0, interval - elapsed) if failures == 0 else backoff(interval, failures)


async def evaluation_loop(runtime: Runtime) -> None:
    interval = runtime.config.evaluation_interval
    telemetry = runtime.telemetry
    # One step of a cycle is one query or one Kubernetes request (or a gate round of a few), each bounded.
    telemetry.loop_started(asyncio.current_task(), step_budget=max(runtime.config.prometheus_timeout, 3 * runtime.config.api_timeout))
    failures = 0
    while True:
        started = time.monotonic()
        telemetry.beat()
        try:
            with telemetry.evaluation_seconds.time():
                await evaluate_once(runtime)
            failures = 0
        except PrometheusUnavailable as error:
            failures += 1
            telemetry.query_errors.inc()
            logger.warning("evaluation failed (%d in a row, next try in %gs): %s", failures, backoff(interval, failures), error)
            await mark_unknown(runtime, str(error))
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one bad cycle kill the loop; the next cycle tries again
            logger.exception("evaluation cycle failed")
        telemetry.last_cycle = time.monotonic()
        telemetry.cycles.inc()
        wait = next_wait(interval, failures, time.monotonic() - started)
        telemetry.sleeping(wait)
        await asyncio.sleep(wait)


async def evaluate_once(runtime: Runtime) -> None:
    """One cycle: the queries, the evaluations, the gates, then the planned status writes."""
    entries = [entry for entry in runtime.store if entry.obj is not None]
    if not entries:
        return
    reader = runtime.reader
    before = reader.queries
    sent = time.time()
    values, stamps, alerts = [await _beat_then(runtime, reader.aquery(query)) for query in CYCLE_QUERIES]
    runtime.telemetry.queries.inc(reader.queries - before)
    now = time.time()
    # Prometheus' clock: the evaluation time of the instant queries. Freshness, a KPI's ``for`` and the time an
    # act is recorded with are all on it, so the operator's clock (stepped, skewed) never decides a verdict.
    prometheus_now = next((s.timestamp for s in (*values, *stamps, *alerts) if s.timestamp is not None), None)
    clock_error = clock_disagreement(prometheus_now, sent, now, runtime.config.max_clock_skew)
    if clock_error is not None:
        logger.warning("gates hold: %s", clock_error)
    sample_now = prometheus_now if prometheus_now is not None else now
    series = collect([e.obj for e in entries if e.obj is not None], values, stamps, alerts, sample_now, runtime.config.freshness, runtime.config.rule_schema)
    problems = await _rule_problems(runtime, entries, series, now)
    for key, problem in problems.items():
        if key in series:
            series[key].rule_problem = problem
    evaluations: dict[Key, AnyStatus] = {}
    gates: dict[Key, GateStatus] = {}
    reads = NamespaceReads(runtime.kube) if runtime.kube is not None else None  # each namespace listed once a cycle
    for entry in entries:
        obj = entry.obj
        assert obj is not None
        evaluations[entry.key] = evaluation = evaluate(obj, series[entry.key])
        if isinstance(obj, KPI):
            sampled = series[entry.key].sampled_at
            at = sampled if sampled is not None else sample_now
            entry.kpi_history = kpi_history_after(entry.kpi_history, obj, at, getattr(evaluation, "value", None) if sampled is not None else None)
        if obj.spec.gate is not None:
            runtime.telemetry.beat()
            result = await _gate_isolated(runtime, entry, series[entry.key], now, prometheus_now, clock_error, reads)
            if result is None:
                continue
            gates[entry.key] = result.status
            if result.acted:
                # The record of an act goes out before anything else of the cycle can fail.
                await _patch_status(runtime, entry, type(entry.status)(gate=result.status))
    plan = plan_cycle([e.tracked() for e in entries], evaluations, gates, now, runtime.config.evaluation_interval, problems)
    by_key = {e.key: e for e in entries}
    for key in plan.patches:
        by_key[key].written_at = now
    await _bounded((_patch_status(runtime, by_key[key], patch) for key, patch in plan.patches.items()), CONCURRENT_WRITES)
    runtime.telemetry.objects.clear()
    for (kind, state), count in plan.states.items():
        runtime.telemetry.objects.labels(kind, state).set(count)


@dataclass
class _RuleHealth:
    """The last rule health read (``evaluation.rule_health``) and when it was read."""

    read_at: float = float("-inf")
    problems: dict[Key, RuleProblem] = field(default_factory=dict)


_rule_health: "weakref.WeakKeyDictionary[Runtime, _RuleHealth]" = weakref.WeakKeyDictionary()


async def _rule_problems(runtime: Runtime, entries: list[Entry], series: dict[Key, ObjectSeries], now: float) -> dict[Key, RuleProblem]:
    """Which objects' rules Prometheus fails to evaluate: read from its rules API when some object lacks data (or
    had a problem), at most once every ``RULE_HEALTH_INTERVALS`` intervals (the answer lists every rule, so it
    grows with the estate). A failed read keeps the last answer: it explains, it never stops the cycle (a
    Prometheus-compatible API may have no rules endpoint)."""
    health = _rule_health.setdefault(runtime, _RuleHealth())
    lacking = any(not (s.values or s.error_ratios) for s in series.values())
    due = now - health.read_at >= RULE_HEALTH_INTERVALS * runtime.config.evaluation_interval
    if due and (lacking or health.problems):
        health.read_at = now
        try:
            groups = await runtime.reader.arecording_rule_groups()
            runtime.telemetry.queries.inc()
        except PrometheusUnavailable as error:
            logger.warning("reading rule health failed: %s", error)
        else:
            health.problems = rule_problems(groups, [e.obj for e in entries if e.obj is not None], runtime.config.rule_schema)
    return {key: problem for key, problem in health.problems.items() if key in series}


async def _gate_isolated(
    runtime: Runtime,
    entry: Entry,
    series: Any,
    now: float,
    prometheus_now: Optional[float],
    clock_error: Optional[str],
    reads: Optional[NamespaceReads] = None,
) -> Optional[GateResult]:
    """One object's gate round; whatever fails in it stays with that object (an ``error`` verdict), never the
    cycle's other objects."""
    try:
        return await run_gate(runtime, entry, series, now, prometheus_now, clock_error, reads)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        logger.exception("gate of %s %s/%s failed", entry.kind, entry.namespace, entry.name)
        return GateResult(GateStatus.holding(entry.status.gate, f"The gate's round failed ({error})"))


async def mark_unknown(runtime: Runtime, reason: str) -> None:
    """Prometheus did not answer: write what ``plan_outage`` says, with an Event per object."""
    entries = {e.key: e for e in runtime.store if e.obj is not None}
    for key, (patch, message) in plan_outage([e.tracked() for e in entries.values()], reason, time.time()).items():
        entry = entries[key]
        await _patch_status(runtime, entry, patch)
        runtime.telemetry.beat()
        if runtime.kube is not None:
            await runtime.kube.post_event(entry.reference, "Warning", "PrometheusUnavailable", message)


async def _patch_status(runtime: Runtime, entry: Entry, patch: AnyStatus) -> None:
    """Write ``patch`` to ``entry``'s object, and only to it: a cycle plans from the store it read at its start,
    and an object deleted and re-applied under the same name since then must not get the old one's status (an
    ``Acted`` gate state would keep the new object's gate from ever acting)."""
    runtime.telemetry.beat()  # a step of the cycle: /healthz sees the loop make progress
    current = runtime.store.get(entry.key)
    if runtime.kube is None or current is None or current.uid != entry.uid:
        return
    try:
        written = await runtime.kube.patch_status(entry.kind, entry.namespace, entry.name, patch.to_patch(), entry.uid, entry.status.to_patch())
    except Exception as error:  # one refused write must not stop the others; the next cycle writes again
        logger.warning("status patch of %s/%s/%s failed: %s", entry.kind, entry.namespace, entry.name, error)
        return
    if not written:
        logger.info("%s %s/%s was deleted or re-created before its status was written; the write was dropped", entry.kind, entry.namespace, entry.name)
        return
    entry.status = entry.status.merged(patch)
    runtime.telemetry.status_patches.labels(entry.kind).inc()
