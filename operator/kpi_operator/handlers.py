"""kopf handlers: parse -> plan -> apply -> status. No domain logic lives here.

``register(registry, runtime)`` puts the handlers into a kopf registry, so tests can run them in-process against
the emulated API and ``kpi-operator run`` can run them against a cluster. The pure planning is in
``reconcile.plan_reconcile``; the writes go through ``adapters.kube``; the evaluation loop is in ``evaluation``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any, Optional

import kopf

from .adapters.kube import GROUP, VERSION, KubeClient
from .adapters.prometheus import PrometheusReader
from .config import OperatorConfig, parse_selector
from .evaluation import evaluation_loop
from .reconcile import plan_reconcile, rule_taken_by
from .reconcile import conditions as cond
from .store import Entry, Store
from .telemetry import Telemetry

MANAGED_LABELS = {"app.kubernetes.io/managed-by": "kpi-operator"}


class Runtime:
    """Operator-wide state shared by the handlers and the evaluation loop."""

    def __init__(self, config: OperatorConfig):
        self.config = config
        self.store = Store()
        self.telemetry = Telemetry(config.evaluation_interval)
        self.reader = PrometheusReader(config.prometheus_settings())
        self.kube: Optional[KubeClient] = None
        self.loop_task: Optional[asyncio.Task[None]] = None


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def register(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:
    config = runtime.config
    labels = parse_selector(config.label_selector) or None

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Optional[kopf.ConnectionInfo]:
        """In a pod, the service account; elsewhere the kubeconfig (kopf's own readers, no client library)."""
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
        settings.peering.standalone = not config.peering
        settings.peering.name = config.peering_name
        settings.posting.level = logging.INFO
        settings.networking.error_backoffs = [1, 2, 5, 10]
        if runtime.kube is None:
            runtime.kube = await KubeClient.connect(config.kubeconfig)
        if config.metrics_port >= 0:
            await runtime.telemetry.start(config.metrics_host, config.metrics_port)
            logger.info("serving /metrics and /healthz on %s:%s", config.metrics_host, runtime.telemetry.port)
        runtime.loop_task = asyncio.create_task(evaluation_loop(runtime), name="kpi-operator-evaluation")

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        if runtime.loop_task is not None:
            runtime.loop_task.cancel()
            await asyncio.gather(runtime.loop_task, return_exceptions=True)
        await runtime.telemetry.stop()
        if runtime.kube is not None:
            await runtime.kube.close()
            runtime.kube = None

    for plural in ("slos", "kpis"):

        @kopf.on.resume(GROUP, VERSION, plural, registry=registry, labels=labels)
        @kopf.on.create(GROUP, VERSION, plural, registry=registry, labels=labels)
        @kopf.on.update(GROUP, VERSION, plural, registry=registry, labels=labels)
        async def reconcile(body: kopf.Body, patch: kopf.Patch, logger: logging.Logger, **_: Any) -> None:
            await _reconcile(runtime, dict(body), patch, logger)

        @kopf.on.event(GROUP, VERSION, plural, registry=registry, labels=labels)
        async def deleted(event: kopf.RawEvent, logger: logging.Logger, **_: Any) -> None:
            """Forget a deleted object and delete its PrometheusRule.

            No finalizer is added: on a cluster the rule's ownerReference lets the garbage collector delete it even
            while the operator is down, so blocking the object's deletion on the operator would buy nothing and
            cost a write per object. The delete here covers rules that lost their owner reference.
            """
            if event.get("type") != "DELETED" or runtime.kube is None:
                return
            body = event["object"]
            meta = body.get("metadata", {})
            runtime.store.remove((body.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")))
            if await runtime.kube.delete_prometheus_rule(meta.get("namespace", ""), meta.get("name", "")):
                logger.info("deleted PrometheusRule %s/%s", meta.get("namespace"), meta.get("name"))

    @kopf.on.event("monitoring.coreos.com", "v1", "prometheusrules", registry=registry, labels=MANAGED_LABELS)
    async def rule_changed(event: kopf.RawEvent, logger: logging.Logger, **_: Any) -> None:
        """A PrometheusRule edited or deleted by hand is put back as the operator generated it."""
        if event.get("type") not in ("MODIFIED", "DELETED"):
            return
        meta = event["object"].get("metadata", {})
        for entry in runtime.store.by_rule(meta.get("namespace", ""), meta.get("name", "")):
            if entry.desired_rule is None or runtime.kube is None:
                continue
            result = await runtime.kube.apply_prometheus_rule(entry.desired_rule)
            if result != "unchanged":
                logger.info("PrometheusRule %s/%s was changed outside the operator; put back (%s)", entry.namespace, entry.name, result)
                kopf.event(entry.reference, type="Normal", reason="RuleRestored", message="The PrometheusRule was changed outside the operator and was put back.")


async def _reconcile(runtime: Runtime, body: dict[str, Any], patch: kopf.Patch, logger: logging.Logger) -> None:
    assert runtime.kube is not None
    kind = body["kind"]
    meta = body["metadata"]
    now = now_iso()
    plan = plan_reconcile(body, runtime.config.rule_schema, now)
    entry = Entry(kind=kind, namespace=meta["namespace"], name=meta["name"], uid=meta.get("uid"), obj=plan.obj, status=dict(body.get("status") or {}))
    previous = runtime.store.get(entry.key)
    created = False
    if plan.rule is not None:
        try:
            created = await runtime.kube.create_prometheus_rule(plan.rule)
        except Exception as error:  # the API server refused or is unreachable: retry, and say why
            runtime.telemetry.reconcile_errors.labels(kind).inc()
            raise kopf.TemporaryError(f"creating PrometheusRule failed: {error}", delay=5) from error
    current_rule: Any = None
    if plan.rule is not None and not created:
        current_rule = await runtime.kube.get_prometheus_rule(entry.namespace, entry.name)
        conflict = rule_taken_by(current_rule, meta.get("uid"))
        if conflict:
            message = f"PrometheusRule {entry.namespace}/{entry.name} already belongs to {conflict}; rename one of them."
            plan.status["conditions"] = cond.stalled(plan.status.get("conditions", []), "RuleNameTaken", message, now, meta.get("generation"))
            plan.rule = None
            plan.events.append(("Warning", "RuleNameTaken", message))
    if plan.rule is not None:
        try:
            result = "created" if created else await runtime.kube.apply_prometheus_rule(plan.rule, current_rule)
        except Exception as error:  # the API server refused or is unreachable: retry, and say why
            runtime.telemetry.reconcile_errors.labels(kind).inc()
            raise kopf.TemporaryError(f"applying PrometheusRule failed: {error}", delay=5) from error
        entry.desired_rule = plan.rule
        logger.info("PrometheusRule %s/%s %s", entry.namespace, entry.name, result)
        runtime.telemetry.reconciles.labels(kind, result).inc()
    else:
        runtime.telemetry.reconciles.labels(kind, "invalid").inc()
        entry.invalid = True
        entry.obj = None
        if previous is not None and previous.uid == entry.uid:
            # Keep serving the last good definition's rules; its values keep being evaluated too.
            entry.desired_rule = previous.desired_rule
            entry.obj = previous.obj
    entry.status.update(plan.status)
    runtime.store.put(entry)
    patch.status.update(plan.status)
    for event_type, reason, message in plan.events:
        kopf.event(body, type=event_type, reason=reason, message=message)

