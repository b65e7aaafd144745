"""kopf handlers: read, plan (``reconcile``), write (``adapters.kube``), and always a status. No domain logic here.

The handlers are module-level functions; ``register(registry, config)`` attaches them to a kopf registry with the
configured label filter, so tests run them in-process against the emulated API and ``kpi-operator run`` runs
them against a cluster. Operator-wide state reaches them as kopf's ``memo`` (``memo.runtime``, a ``Runtime``).

Every outcome of a reconcile writes the status and a condition, as a person reading ``kubectl get`` needs: the
rule applied (``Reconciling`` until the first evaluation, then ``Ready``), an invalid spec (``Stalled``, no retry:
the object must change), the rule's name taken by a PrometheusRule the operator does not own
(``Stalled/RuleNameTaken``, nothing written; retried with a growing delay, see ``RULE_TAKEN_RETRY``), the API
server refusing the rule (``Stalled/RuleRejected``, no retry) or failing (``Reconciling/RuleWritePending``,
retried with backoff).

The operator writes and deletes only PrometheusRules it owns (``reconcile.rule_ownership``): its managed-by label
and an ownerReference to the object, or to an earlier object of the same kind and name that is gone (adopted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Optional

import kopf

from ..adapters.kube import KubeClient, KubeError
from ..api.models import GROUP, VERSION
from ..api.timestamps import utc_timestamp
from ..reconcile import (
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
from ..rules.prometheus_rule import MANAGED_BY
from .config import OperatorConfig, parse_selector
from .evaluation_loop import evaluation_loop
from .state import Entry, Runtime

RETRY_DELAY = 5.0  # seconds before kopf retries a rule write that failed for a reason that may pass
# An object whose rule name is taken by a rule the operator does not own is retried (kopf ``TemporaryError``) after
# RULE_TAKEN_RETRY seconds, doubling up to RULE_TAKEN_RETRY_MAX: the operator watches only its own (labelled)
# PrometheusRules, so it cannot see a hand-written rule being deleted, and watching every rule of the cluster for
# that would cost far more than one GET per stalled object every few minutes. kopf serialises the retries with
# the object's other changes, so a retry never races an update of the same object.
RULE_TAKEN_RETRY = 15.0
RULE_TAKEN_RETRY_MAX = 300.0


def operator_memo(runtime: Runtime) -> kopf.Memo:
    """The ``memo`` to start kopf with: each object's handlers get a shallow copy, so they share the runtime."""
    return kopf.Memo(runtime=runtime)


def log_in(**kwargs: Any) -> Optional[kopf.ConnectionInfo]:
    """In a pod, the service account; elsewhere the kubeconfig (kopf's own readers, no client library)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


async def start_operator(settings: kopf.OperatorSettings, logger: logging.Logger, memo: kopf.Memo, **_: Any) -> None:
    """Connect the client, serve telemetry, start the one evaluation loop."""
    runtime: Runtime = memo.runtime
    config = runtime.config
    settings.peering.standalone = not config.peering
    settings.peering.name = config.peering_name
    settings.posting.level = logging.INFO
    settings.networking.error_backoffs = [1, 2, 5, 10]
    if runtime.kube is None:
        runtime.kube = await KubeClient.connect(config.kubeconfig, config.api_timeout)
    if config.metrics_port >= 0 and runtime.telemetry.port is None:  # started already by a standby (leader election)
        await runtime.telemetry.start(config.metrics_host, config.metrics_port)
        logger.info("serving /metrics and /healthz on %s:%s", config.metrics_host, runtime.telemetry.port)
    runtime.loop_task = asyncio.create_task(evaluation_loop(runtime), name="kpi-operator-evaluation")


async def stop_operator(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    if runtime.loop_task is not None:
        runtime.loop_task.cancel()
        await asyncio.gather(runtime.loop_task, return_exceptions=True)
    await runtime.telemetry.stop()
    if runtime.kube is not None:
        await runtime.kube.close()
        runtime.kube = None


async def reconcile_object(body: kopf.Body, patch: kopf.Patch, logger: logging.Logger, memo: kopf.Memo, retry: int = 0, **_: Any) -> None:
    """A KPI or SLO created, changed or found at start-up: write its PrometheusRule and status."""
    runtime: Runtime = memo.runtime
    assert runtime.kube is not None
    raw = dict(body)
    meta = raw["metadata"]
    kind = raw["kind"]
    now = utc_timestamp(time.time())
    plan = plan_reconcile(raw, runtime.config.rule_schema, now, runtime.config.allow_template_queries)
    failure: Optional[KubeError] = None
    result = "invalid"
    if plan.rule is not None:
        try:
            plan, result = await _write_rule(runtime.kube, plan, raw, now)
        except KubeError as error:
            failure = error
            plan = rule_write_failed(plan, raw, str(error), error.permanent, now)
    previous = runtime.store.get((kind, meta["namespace"], meta["name"]))
    same = previous is not None and previous.uid == meta.get("uid")
    serving = next_serving(plan, Serving(previous.obj, previous.desired_rule) if previous is not None and same else None)
    entry = Entry(kind=kind, namespace=meta["namespace"], name=meta["name"], uid=meta.get("uid"), obj=serving.obj, desired_rule=serving.rule, invalid=serving.invalid)
    entry.status = type(plan.status).from_wire(raw.get("status")).merged(plan.status)
    runtime.store.put(entry)
    patch.status.update(plan.status.to_patch())
    for event_type, reason, message in plan.events:
        kopf.event(body, type=event_type, reason=reason, message=message)
    if failure is not None:
        runtime.telemetry.reconcile_errors.labels(kind).inc()
        if failure.permanent:
            raise kopf.PermanentError(f"PrometheusRule refused: {failure}")
        raise kopf.TemporaryError(f"writing PrometheusRule failed: {failure}", delay=RETRY_DELAY)
    if result == "taken":
        runtime.telemetry.reconciles.labels(kind, result).inc()
        delay = min(RULE_TAKEN_RETRY * 2 ** min(retry, 16), RULE_TAKEN_RETRY_MAX)
        raise kopf.TemporaryError(f"the PrometheusRule's name is taken; checking again in {delay:g}s", delay=delay)
    if result != "invalid":
        logger.info("PrometheusRule %s/%s %s", entry.namespace, entry.name, result)
    runtime.telemetry.reconciles.labels(kind, result).inc()


async def _write_rule(kube: KubeClient, plan: ReconcilePlan, body: dict[str, Any], now: str) -> tuple[ReconcilePlan, str]:
    """Create the rule (one request for a new object); when one exists, write it only if it is this object's (or
    an earlier same-named object's, adopted), else write nothing. Returns the plan (stalled when the name is
    taken) and what was done: ``created``, ``updated``, ``unchanged`` or ``taken``."""
    assert plan.rule is not None
    if await kube.create_prometheus_rule(plan.rule):
        return plan, "created"
    meta = plan.rule["metadata"]
    current = await kube.get_prometheus_rule(meta["namespace"], meta["name"])
    ownership = await _judged(kube, current, body)
    plan = resolve_rule_conflict(plan, body, ownership, now)
    if plan.rule is None:
        return plan, "taken"
    return plan, await kube.apply_prometheus_rule(plan.rule, current)


async def _judged(kube: KubeClient, current: Optional[dict[str, Any]], body: dict[str, Any]) -> RuleOwnership:
    """``rule_ownership``, with an adoption confirmed by reading the live object of that kind and name (only
    then: a rule of the object's own is the common case, and costs no read)."""
    ownership = rule_ownership(current, body)
    if ownership.verdict != "adopt":
        return ownership
    meta = body.get("metadata") or {}
    live = await kube.get_object(body.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))
    return adoption_checked(ownership, body, ((live or {}).get("metadata") or {}).get("uid"))


async def forget_deleted_object(event: kopf.RawEvent, logger: logging.Logger, memo: kopf.Memo, **_: Any) -> None:
    """Forget a deleted object and delete its PrometheusRule, both only if they are that object's (by uid).

    The rule is deleted only when it is the deleted object's own (``rule_ownership``: the operator's label and an
    ownerReference to that uid), never a hand-written rule of that name or a re-created object's, and with the
    read rule's uid and resourceVersion as delete preconditions, so a rule replaced between the read and the
    delete is not deleted.

    No finalizer is added: on a cluster the rule's ownerReference lets the garbage collector delete it even
    while the operator is down, so blocking the object's deletion on the operator would buy nothing and cost a
    write per object. The delete here covers clusters without a garbage collector run yet.
    """
    runtime: Runtime = memo.runtime
    if event.get("type") != "DELETED" or runtime.kube is None:
        return
    body = event["object"]
    meta = body.get("metadata", {})
    namespace, name, uid = meta.get("namespace", ""), meta.get("name", ""), meta.get("uid")
    runtime.store.remove((body.get("kind", ""), namespace, name), uid)
    rule = await runtime.kube.get_prometheus_rule(namespace, name)
    if rule is None or rule_ownership(rule, body).verdict != "own":
        return  # gone already, not made by the operator, or another (e.g. a re-created) object's
    rule_meta = rule.get("metadata") or {}
    if await runtime.kube.delete_prometheus_rule(namespace, name, uid=rule_meta.get("uid"), resource_version=rule_meta.get("resourceVersion")):
        logger.info("deleted PrometheusRule %s/%s", namespace, name)


async def restore_edited_rule(event: kopf.RawEvent, logger: logging.Logger, memo: kopf.Memo, **_: Any) -> None:
    """A PrometheusRule of the operator's edited or deleted by hand is put back as the operator generated it.

    The rule is read again first (the event may be old, and a ``DELETED`` from a label-filtered watch may mean
    only that the label was removed), and put back only when it is gone or still the object's own: a rule whose
    label or ownerReference was changed by hand, or one replaced by another rule of that name, is not fought
    over: a ``RuleNameTaken`` Warning Event says so, and the object's next reconcile (a change, a restart) stalls
    it. Adoption is left to that reconcile too.
    """
    runtime: Runtime = memo.runtime
    if event.get("type") not in ("MODIFIED", "DELETED"):
        return
    meta = event["object"].get("metadata", {})
    for entry in runtime.store.by_rule(meta.get("namespace", ""), meta.get("name", "")):
        if entry.desired_rule is None or runtime.kube is None:
            continue
        current = await runtime.kube.get_prometheus_rule(entry.namespace, entry.name)
        owner = {"kind": entry.kind, "metadata": {"namespace": entry.namespace, "name": entry.name, "uid": entry.uid}}
        ownership = rule_ownership(current, owner)
        if ownership.verdict == "adopt":
            continue  # an earlier same-named object's: the object's own reconcile confirms and adopts it
        if ownership.verdict == "taken":
            logger.warning("%s Left alone.", ownership.message)
            kopf.event(entry.reference, type="Warning", reason="RuleNameTaken", message=f"{ownership.message} The operator left it alone.")
            continue
        result = await runtime.kube.apply_prometheus_rule(entry.desired_rule, current)
        if result != "unchanged":
            logger.info("PrometheusRule %s/%s was changed outside the operator; put back (%s)", entry.namespace, entry.name, result)
            kopf.event(entry.reference, type="Normal", reason="RuleRestored", message="The PrometheusRule was changed outside the operator and was put back.")


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    """Attach the handlers to ``registry``, watching only objects with ``config.label_selector``'s labels."""
    labels = parse_selector(config.label_selector) or None
    kopf.on.login(registry=registry)(log_in)
    kopf.on.startup(registry=registry)(start_operator)
    kopf.on.cleanup(registry=registry)(stop_operator)
    for plural in ("slos", "kpis"):
        for on in (kopf.on.resume, kopf.on.create, kopf.on.update):
            on(GROUP, VERSION, plural, registry=registry, labels=labels, id="reconcile")(reconcile_object)
        # Filtered by kopf (``when``), so the status writes of every cycle do not run and log a handler each.
        kopf.on.event(GROUP, VERSION, plural, registry=registry, labels=labels, id="deleted", when=_is_deletion)(forget_deleted_object)
    kopf.on.event("monitoring.coreos.com", "v1", "prometheusrules", registry=registry, labels=MANAGED_BY, id="rule_changed", when=_is_change)(restore_edited_rule)


def _is_deletion(event: kopf.RawEvent, **_: Any) -> bool:
    return event.get("type") == "DELETED"


def _is_change(event: kopf.RawEvent, **_: Any) -> bool:
    return event.get("type") in ("MODIFIED", "DELETED")
