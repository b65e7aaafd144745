"""The operator's own telemetry: Prometheus metrics and a health endpoint on one small HTTP server.

``/healthz`` answers 200 while the evaluation loop has run within three intervals (or has not had its first
chance yet), so a wedged loop restarts the pod; ``/metrics`` is the prometheus-client exposition. A replica that
stands by for the leader Lease runs no loop and answers 200 ("standby"): it is alive and ready to take over, and
a rolling update must be able to count it ready.
"""

from __future__ import annotations

import time
from typing import Optional

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Telemetry:
    def __init__(self, interval: float):
        self.registry = CollectorRegistry()
        self.interval = interval
        self.started = time.monotonic()
        self.last_cycle: Optional[float] = None
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
        self.leader.set(1)

    def healthy(self) -> bool:
        if self.standby:
            return True
        reference = self.last_cycle if self.last_cycle is not None else self.started
        return time.monotonic() - reference < max(3 * self.interval, 60.0)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        if self.healthy():
            return web.Response(text="standby\n" if self.standby else "ok\n")
        return web.Response(status=503, text="evaluation loop stalled\n")

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
