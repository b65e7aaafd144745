"""The one evaluation loop of the operator: read the recorded series of every object, run the gates, write the
statuses the cycle's plan says changed.

Each cycle sends the constant queries of ``evaluation.queries`` (three, whatever the number of objects); the
mapping back to objects, the numbers, and which statuses to write are pure (``evaluation``). Prometheus
unreachable: every object goes ``Unknown`` with the reason (``evaluation.plan_outage``), the loop backs off
(doubling, at most ten intervals) and recovers by itself. The canary gates run on the same readings
(``gate_loop``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Iterable, Optional

from ..adapters.prometheus import PrometheusUnavailable
from ..api.models import KPI
from ..api.status import AnyStatus, GateStatus
from ..evaluation import Key, clock_disagreement, collect, evaluate, kpi_history_after, plan_cycle, plan_outage
from ..evaluation.queries import CYCLE_QUERIES
from .gate_loop import GateResult, run_gate
from .state import Entry, Runtime

logger = logging.getLogger("kpi_operator.evaluation")

CONCURRENT_WRITES = 16  # status patches in flight at once: a cycle over 1,000 SLOs must not be 1,000 round trips


async def _bounded(coroutines: Iterable[Awaitable[Any]], limit: int) -> None:
    """Run the coroutines with at most ``limit`` in flight."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine: Awaitable[Any]) -> None:
        async with semaphore:
            await coroutine

    await asyncio.gather(*(one(c) for c in coroutines))


async def evaluation_loop(runtime: Runtime) -> None:
    interval = runtime.config.evaluation_interval
    failures = 0
    while True:
        delay = interval
        started = time.monotonic()
        try:
            with runtime.telemetry.evaluation_seconds.time():
                await evaluate_once(runtime)
            failures = 0
        except PrometheusUnavailable as error:
            failures += 1
            runtime.telemetry.query_errors.inc()
            logger.warning("evaluation failed (%d in a row): %s", failures, error)
            await mark_unknown(runtime, str(error))
            delay = min(interval * (2 ** (failures - 1)), interval * 10, max(interval, 300.0))
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one bad cycle kill the loop; the next cycle tries again
            logger.exception("evaluation cycle failed")
        runtime.telemetry.last_cycle = time.monotonic()
        runtime.telemetry.cycles.inc()
        await asyncio.sleep(max(0.0, delay - (time.monotonic() - started)) if failures == 0 else delay)


async def evaluate_once(runtime: Runtime) -> None:
    """One cycle: the queries, the evaluations, the gates, then the planned status writes."""
    entries = [entry for entry in runtime.store if entry.obj is not None]
    if not entries:
        return
    reader = runtime.reader
    before = reader.queries
    sent = time.time()
    values, stamps, alerts = [await reader.aquery(query) for query in CYCLE_QUERIES]
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
    evaluations: dict[Key, AnyStatus] = {}
    gates: dict[Key, GateStatus] = {}
    for entry in entries:
        obj = entry.obj
        assert obj is not None
        evaluations[entry.key] = evaluation = evaluate(obj, series[entry.key])
        if isinstance(obj, KPI):
            sampled = series[entry.key].sampled_at
            at = sampled if sampled is not None else sample_now
            entry.kpi_history = kpi_history_after(entry.kpi_history, obj, at, getattr(evaluation, "value", None) if sampled is not None else None)
        if obj.spec.gate is not None:
            result = await _gate_isolated(runtime, entry, series[entry.key], now, prometheus_now, clock_error)
            if result is None:
                continue
            gates[entry.key] = result.status
            if result.acted:
                # The record of an act goes out before anything else of the cycle can fail.
                await _patch_status(runtime, entry, type(entry.status)(gate=result.status))
    plan = plan_cycle([e.tracked() for e in entries], evaluations, gates, now, runtime.config.evaluation_interval)
    by_key = {e.key: e for e in entries}
    for key in plan.patches:
        by_key[key].written_at = now
    await _bounded((_patch_status(runtime, by_key[key], patch) for key, patch in plan.patches.items()), CONCURRENT_WRITES)
    runtime.telemetry.objects.clear()
    for (kind, state), count in plan.states.items():
        runtime.telemetry.objects.labels(kind, state).set(count)


async def _gate_isolated(
    runtime: Runtime, entry: Entry, series: Any, now: float, prometheus_now: Optional[float], clock_error: Optional[str]
) -> Optional[GateResult]:
    """One object's gate round; whatever fails in it stays with that object (an ``error`` verdict), never the
    cycle's other objects."""
    try:
        return await run_gate(runtime, entry, series, now, prometheus_now, clock_error)
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
        if runtime.kube is not None:
            await runtime.kube.post_event(entry.reference, "Warning", "PrometheusUnavailable", message)


async def _patch_status(runtime: Runtime, entry: Entry, patch: AnyStatus) -> None:
    """Write ``patch`` to ``entry``'s object, and only to it: a cycle plans from the store it read at its start,
    and an object deleted and re-applied under the same name since then must not get the old one's status (an
    ``Acted`` gate state would keep the new object's gate from ever acting)."""
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
