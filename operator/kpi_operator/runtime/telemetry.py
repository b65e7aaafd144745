"""The operator's own telemetry: Prometheus metrics and a health endpoint on one small HTTP server.

``/healthz`` says whether the evaluation loop is alive, not whether Prometheus is: a liveness probe that failed
during a Prometheus outage would restart a healthy operator, and the restart would cure nothing. The loop beats
before each step of a cycle (a query, a status write, an Event, a gate round; each is bounded by its own
timeout) and says until when it sleeps between cycles, backoff included. ``/healthz`` answers 503 only when the
loop's task has ended, when no step has begun for longer than one step's worst case plus a grace (stuck), when a
sleep overran its end by the grace (the event loop is wedged), or when the loop has not started within the grace.
A replica that stands by for the leader Lease runs no loop and answers 200 ("standby"): it is alive and ready to
take over, and a rolling update must be able to count it ready.
"""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple, Optional

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Beat(NamedTuple):
    """What the evaluation loop last said: a step begun ``at`` (``wakes`` None), or a sleep until ``wakes``."""

    at: float
    wakes: Optional[float] = None


def grace(interval: float) -> float:
    """Slack on every health bound: three intervals, at least a minute."""
    return max(3 * interval, 60.0)


def loop_problem(now: float, started: float, interval: float, step_budget: float, beat: Optional[Beat], ended: bool) -> Optional[str]:
    """Why the evaluation loop is not healthy at ``now`` (monotonic seconds), or None when it is.

    ``started``: when the loop got its chance (the start, or taking the leader Lease); ``step_budget``: the
    longest one step of a cycle may take (its own timeout); ``ended``: the loop's task is done."""
    slack = grace(interval)
    if ended:
        return "the evaluation loop has ended"
    if beat is None:
        if now - started > slack:
            return f"the evaluation loop has not started within {slack:g}s"
        return None
    if beat.wakes is not None:
        if now - beat.wakes > slack:
            return f"the evaluation loop overslept its wake-up by {now - beat.wakes:.0f}s"
        return None
    if now - beat.at > step_budget + slack:
        return f"the evaluation loop is stuck: no progress for {now - beat.at:.0f}s (one step takes at most {step_budget:g}s)"
    return None


class Telemetry:
    def __init__(self, interval: float):
        self.registry = CollectorRegistry()
        self.interval = interval
        self.started = time.monotonic()
        self.last_cycle: Optional[float] = None
        self.last_beat: Optional[Beat] = None
        self.step_budget = 0.0
        self._loop: Optional["asyncio.Task[None]"] = None
        self.reconciles = Counter("kpi_operator_reconciles_total", "Reconciles by kind and result", ["kind", "result"], registry=self.registry)
        self.reconcile_errors = Counter("kpi_operator_reconcile_errors_total", "Reconciles that failed, by kind", ["kind"], registry=self.registry)
        self.cycles = Counter("kpi_operator_evaluation_cycles_total", "Evaluation cycles run (successful or not)", registry=self.registry)
        self.evaluation_seconds = Histogram("kpi_operator_evaluation_duration_seconds", "Wall time of one evaluation cycle", registry=self.registry)
        self.queries = Counter("kpi_operator_prometheus_queries_total", "Queries sent to Prometheus", registry=self.registry)
        self.query_errors = Counter("kpi_operator_prometheus_query_errors_total", "Queries that failed", registry=self.registry)
        self.objects = Gauge("kpi_operator_objects", "Objects by kind and state", ["kind", "state"], registry=self.registry)
        self.status_patches = Counter("kpi_operator_status_patches_total", "Status patches written by the evaluation loop", ["kind"], registry=self.registry)
        self.leader = Gauge("kpi_operator_leader", "1 while this replica acts (holds the leader Lease, or runs without leader election), 0 while it stands by", registry=self.registry)
        self.leader.set(1)
        self.standby = False
        self.gate_actions = Counter("kpi_operator_gate_actions_total", "Gate acts by action and whether they were dry runs", ["action", "dry_run"], registry=self.registry)
        self._runner: Optional[web.AppRunner] = None
        self.port: Optional[int] = None

    def stand_by(self) -> None:
        self.standby = True
        self.leader.set(0)

    def lead(self) -> None:
        """Leading from now: the evaluation loop gets its first chance from this moment, not from the start."""
        self.standby = False
        self.started = time.monotonic()
        self.last_beat = None
        self.leader.set(1)

    def loop_started(self, task: "Optional[asyncio.Task[None]]", step_budget: float) -> None:
        """The evaluation loop runs as ``task``; no step of it takes longer than ``step_budget`` seconds."""
        self._loop = task
        self.step_budget = step_budget
        self.beat()

    def beat(self) -> None:
        """The loop begins a step (a cycle, a query, a write)."""
        self.last_beat = Beat(time.monotonic())

    def sleeping(self, seconds: float) -> None:
        """The loop sleeps ``seconds`` (the interval, or its backoff) before its next cycle."""
        now = time.monotonic()
        self.last_beat = Beat(now, now + seconds)

    def problem(self) -> Optional[str]:
        if self.standby:
            return None
        ended = self._loop is not None and self._loop.done()
        return loop_problem(time.monotonic(), self.started, self.interval, self.step_budget, self.last_beat, ended)

    def healthy(self) -> bool:
        return self.problem() is None

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        problem = self.problem()
        if problem is None:
            return web.Response(text="standby\n" if self.standby else "ok\n")
        return web.Response(status=503, text=problem + "\n")

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
