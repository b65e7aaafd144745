"""The one evaluation loop of the operator: read the recorded series of every object, write changed statuses.

Each cycle sends the constant queries of ``budget.queries`` (three, whatever the number of objects), maps the
samples back to objects (``budget.evaluate``), and patches only statuses whose evaluation changed, plus a
heartbeat of ``lastEvaluated`` every ten intervals so a reader can tell a quiet SLO from a stuck operator.
Prometheus unreachable: every object goes ``Unknown`` with the reason, the loop backs off (doubling, at most ten
intervals) and recovers by itself. The canary gate runs on the same readings (``gate_runner``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from .adapters.prometheus import PrometheusUnavailable
from .budget.evaluate import changed, collect, evaluate
from .budget.queries import ALERTS_QUERY, TIMESTAMPS_QUERY, VALUES_QUERY
from .reconcile import conditions as cond

if TYPE_CHECKING:
    from .handlers import Runtime

logger = logging.getLogger("kpi_operator.evaluation")

HEARTBEAT_INTERVALS = 10
CONCURRENT_WRITES = 16  # status patches in flight at once: a cycle over 1,000 SLOs must not be 1,000 round trips


async def _bounded(coroutines: list[Any], limit: int) -> None:
    """Run the coroutines with at most ``limit`` in flight."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine: Any) -> None:
        async with semaphore:
            await coroutine

    await asyncio.gather(*(one(c) for c in coroutines))


def _iso(ts: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


async def evaluation_loop(runtime: "Runtime") -> None:
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


async def evaluate_once(runtime: "Runtime") -> None:
    entries = [entry for entry in runtime.store if entry.obj is not None]
    if not entries:
        return
    reader = runtime.reader
    before = reader.queries
    values = await reader.aquery(VALUES_QUERY)
    stamps = await reader.aquery(TIMESTAMPS_QUERY)
    alerts = await reader.aquery(ALERTS_QUERY)
    runtime.telemetry.queries.inc(reader.queries - before)
    now = time.time()
    series = collect([e.obj for e in entries], values, stamps, alerts, now, runtime.config.freshness)
    states: dict[tuple[str, str], int] = {}
    writes = []
    for entry in entries:
        obj = entry.obj
        assert obj is not None
        evaluation = evaluate(obj, series[entry.key])
        states[(entry.kind, evaluation["state"])] = states.get((entry.kind, evaluation["state"]), 0) + 1
        if entry.kind == "KPI":
            entry.kpi_history.append((now, evaluation.get("value")))
            horizon = now - _history_seconds(obj)
            entry.kpi_history[:] = [(t, v) for t, v in entry.kpi_history if t >= horizon]
        patch: dict[str, Any] = {}
        if obj.spec.gate is not None:
            from .gate_runner import run_gate

            gate_status = await run_gate(runtime, entry, evaluation, series[entry.key], now)
            if gate_status is not None and gate_status != entry.status.get("gate"):
                patch["gate"] = gate_status
        heartbeat_due = now - entry.status.get("_evaluatedAt", 0) >= HEARTBEAT_INTERVALS * runtime.config.evaluation_interval
        conditions = entry.status.get("conditions") or []
        if not entry.invalid:
            ready = cond.get_condition(conditions, "Ready")
            if ready is None or ready.get("status") != "True" or ready.get("reason") != "Evaluated":
                conditions = cond.ready(
                    conditions,
                    "Evaluated",
                    "Rules applied and Prometheus answering; see status.state for the verdict.",
                    _iso(now),
                    (entry.status.get("observedGeneration")),
                )
                patch["conditions"] = conditions
        if changed(entry.status, evaluation) or heartbeat_due or patch:
            patch.update(evaluation)
            patch["lastEvaluated"] = _iso(now)
            entry.status["_evaluatedAt"] = now
            writes.append(_patch_status(runtime, entry, patch))
    await _bounded(writes, CONCURRENT_WRITES)
    runtime.telemetry.objects.clear()
    for (kind, state), count in states.items():
        runtime.telemetry.objects.labels(kind, state).set(count)


def _history_seconds(obj: Any) -> float:
    from .api.durations import parse_duration_seconds

    return parse_duration_seconds(obj.spec.for_) + 3600.0


async def mark_unknown(runtime: "Runtime", reason: str) -> None:
    now = _iso(time.time())
    for entry in runtime.store:
        if entry.obj is None or entry.invalid:
            continue
        ready = cond.get_condition(entry.status.get("conditions"), "Ready")
        if entry.status.get("state") == "Unknown" and ready is not None and ready.get("reason") == "PrometheusUnavailable":
            continue
        message = f"{reason}. Values shown are from the last successful evaluation; retrying with backoff."
        patch: dict[str, Any] = {
            "state": "Unknown",
            "conditions": cond.stalled(entry.status.get("conditions") or [], "PrometheusUnavailable", message, now, entry.status.get("observedGeneration")),
        }
        if entry.obj.spec.gate is not None:
            # The gate's verdict is `error`: it neither acts nor counts (see gate.state.step).
            patch["gate"] = {
                **(entry.status.get("gate") or {}),
                "verdict": {"verdict": "error", "reason": f"{reason}; the gate holds and never acts on an error.", "value": None, "threshold": None, "query": ""},
            }
        await _patch_status(runtime, entry, patch)
        await runtime.kube.post_event(entry.reference, "Warning", "PrometheusUnavailable", message)  # type: ignore[union-attr]


async def _patch_status(runtime: "Runtime", entry: Any, patch: dict[str, Any]) -> None:
    if runtime.kube is None:
        return
    try:
        await runtime.kube.patch_status(entry.kind, entry.namespace, entry.name, patch)
    except Exception as error:
        logger.warning("status patch of %s/%s/%s failed: %s", entry.kind, entry.namespace, entry.name, error)
        return
    entry.status.update(patch)
    runtime.telemetry.status_patches.labels(entry.kind).inc()
