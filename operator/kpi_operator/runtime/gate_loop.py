"""Runs the canary gate of one KPI or SLO on the evaluation cycle's readings: the I/O around ``gate.rounds``.

It reads the Deployments (and, when one matches, the ReplicaSets) of the object's namespace, sends the patches
the round plans, and reports each act with Events on both objects. Which Deployments, whether to act, and the
``status.gate`` that results are decided in ``gate`` (pure).

The reads are shared by every gate of a namespace within one cycle (``NamespaceReads``): 200 gates in a namespace
of 3,000 ReplicaSets read them once a cycle, not 200 times.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Optional, Union

from ..api.models import SLO
from ..adapters.kube import KubeClient, KubeError
from ..api.status import GateStatus
from ..evaluation import ObjectSeries
from ..gate import kpi_verdict, slo_verdict
from ..gate.readings import kpi_reading, slo_reading
from ..gate.rounds import Round, TargetStep, act_report, acted_on_failure, finish_round, matching_deployments, not_allowed_notice, plan_round
from ..gate.verdict import Outcome, Verdict, clock_outcome, conflict_outcome
from ..rules.compiled import compile_slo
from ..rules.records import ERROR_RATIO
from .state import Entry, Runtime

logger = logging.getLogger("kpi_operator.gate")


def outcome_for(entry: Entry, series: ObjectSeries, since: Optional[float] = None) -> Outcome:
    """The verdict on the cycle's readings: the SLO's recorded error ratios, the KPI's values so far; with
    ``since``, on data from after that moment only (a template a rollback restored then)."""
    obj = entry.obj
    if series.conflict is not None:
        return conflict_outcome(series.conflict)
    if series.rule_problem is not None:  # the rules record nothing (or not all): an error, never acted on
        return Outcome(Verdict.ERROR, f"{series.rule_problem.message} The gate holds until the rule records.")
    if isinstance(obj, SLO):
        reading = slo_reading(
            series.error_ratios, series.total_rates, compile_slo(obj).recorded_windows, ERROR_RATIO.format(window="*"), series.rules_evaluated
        )
        return slo_verdict(obj, reading, since=since, at=series.sampled_at)
    assert obj is not None
    return kpi_verdict(obj, kpi_reading(entry.kpi_history, obj.spec.query, series.rules_evaluated), since=since)


class NamespaceReads:
    """The Deployments and ReplicaSets of each namespace, listed at most once per evaluation cycle and shared by
    the cycle's gate rounds (the cycle builds one; the rounds run one after the other).

    A failed list is kept too: every gate of that namespace gets the same ``error`` verdict without waiting out the
    API's timeout again, and the other namespaces are not touched. After a round sent a patch to a Deployment of a
    namespace, that namespace is read again by the next round: a later gate on the same Deployment judges (and
    would patch) what the act left, never the body from before it.
    """

    def __init__(self, kube: KubeClient):
        self._kube = kube
        self._deployments: dict[str, Union[list[dict[str, Any]], KubeError]] = {}
        self._replicasets: dict[str, Union[list[dict[str, Any]], KubeError]] = {}

    async def deployments(self, namespace: str) -> list[dict[str, Any]]:
        return await self._read(self._deployments, namespace, self._kube.list_deployments)

    async def replicasets(self, namespace: str) -> list[dict[str, Any]]:
        return await self._read(self._replicasets, namespace, self._kube.list_replicasets)

    def forget(self, namespace: str) -> None:
        """The namespace's Deployments may have changed (a patch was sent): the next round lists them again."""
        self._deployments.pop(namespace, None)
        self._replicasets.pop(namespace, None)

    @staticmethod
    async def _read(
        cache: dict[str, Union[list[dict[str, Any]], KubeError]], namespace: str, lister: Callable[[str], Awaitable[list[dict[str, Any]]]]
    ) -> list[dict[str, Any]]:
        if namespace not in cache:
            try:
                cache[namespace] = await lister(namespace)
            except KubeError as error:
                cache[namespace] = error
        found = cache[namespace]
        if isinstance(found, KubeError):
            raise found
        return found


@dataclass(frozen=True)
class GateResult:
    """The new ``status.gate`` and whether an act (not a dry run) changed a Deployment in this round: its record
    must be written at once, before anything else in the cycle can fail."""

    status: GateStatus
    acted: bool = False


async def run_gate(
    runtime: Runtime,
    entry: Entry,
    series: ObjectSeries,
    now: float,
    prometheus_now: Optional[float] = None,
    clock_error: Optional[str] = None,
    reads: Optional[NamespaceReads] = None,
) -> Optional[GateResult]:
    """One gate round for every Deployment the object's selector matches; returns the new ``status.gate``.

    ``now`` (the operator's clock) stamps the status; ``prometheus_now`` (Prometheus' clock, the cycle's query
    time) stamps an act in the Deployment's record, so the restore time and the samples judged against it are
    on one clock. ``clock_error`` (the two clocks disagree) makes every verdict an error.

    A failed read of the Deployments or ReplicaSets (an HTTP error, a timeout) is an ``error`` verdict for this
    object only: it never reads as "no Deployment matches", and the cycle goes on for the others. ``reads`` is
    the cycle's shared ``NamespaceReads`` (a fresh one when not given).
    """
    obj = entry.obj
    if obj is None or obj.spec.gate is None or runtime.kube is None:
        return None
    gate = obj.spec.gate
    if clock_error is not None:
        outcome = clock_outcome(clock_error)
        judge_since = None
    else:
        outcome = outcome_for(entry, series)

        def judge_since(since: float) -> Outcome:
            return outcome_for(entry, series, since)

    try:
        if reads is None:
            reads = NamespaceReads(runtime.kube)
        deployments = matching_deployments(await reads.deployments(entry.namespace), gate)
        replicasets = await reads.replicasets(entry.namespace) if deployments else []
    except KubeError as error:
        logger.warning("gate of %s %s/%s: reading Deployments failed: %s", entry.kind, entry.namespace, entry.name, error)
        return GateResult(GateStatus.holding(entry.status.gate, f"Reading the Deployments of namespace {entry.namespace} failed ({error})"))
    when = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    round_ = plan_round(
        entry.status.gate,
        outcome,
        gate,
        deployments,
        replicasets,
        when,
        series.sampled_at,
        me=f"{entry.kind}/{entry.name}",
        acted_at=prometheus_now if prometheus_now is not None else now,
        judge_since=judge_since,
    )
    if acted_on_failure(round_):
        logger.error("gate acts on a %s verdict; this is a bug", outcome.verdict.value)
    notice = not_allowed_notice(entry.status.gate, round_)
    if notice is not None:  # the Deployments the selector matches but that did not opt in, once per new set
        await runtime.kube.post_event(entry.reference, "Warning", "GateNotAllowed", notice)
    failed = set()
    for target in round_.steps:
        if target.plan is None:
            continue
        if target.needs_patch:
            reads.forget(entry.namespace)  # sent or not, the next round re-reads what this one may have changed
        if not await _act(runtime, entry, round_, target):
            failed.add(target.name)
    acted = any(t.needs_patch and t.name not in failed for t in round_.steps)
    return GateResult(finish_round(round_, frozenset(failed)), acted)


async def _act(runtime: Runtime, entry: Entry, round_: Round, target: TargetStep) -> bool:
    """Send the patch (unless a dry run or a no-op) and report it; False when the API server refused it."""
    assert runtime.kube is not None and target.plan is not None
    action = round_.gate.action
    if target.needs_patch:
        try:
            await runtime.kube.json_patch_deployment(entry.namespace, target.name, target.plan.patch)
        except Exception as error:
            # Most often the revision moved on between the read and the patch (the patch's test failed): the
            # next cycle re-reads and judges the new revision.
            logger.warning("gate %s on Deployment %s/%s failed: %s", action, entry.namespace, target.name, error)
            await runtime.kube.post_event(entry.reference, "Warning", "GateActionFailed", f"{action} of Deployment {target.name} failed: {error}")
            return False
    report = act_report(round_, target, f"{entry.kind} {entry.namespace}/{entry.name}")
    runtime.telemetry.gate_actions.labels(action, str(target.dry_run).lower()).inc()
    await runtime.kube.post_event(entry.reference, "Warning", report.reason, report.message)
    if report.on_deployment is not None:
        await runtime.kube.post_event(_deployment_reference(target.deployment), "Warning", "GateActed", report.on_deployment)
    logger.warning("%s %s/%s: %s", entry.kind, entry.namespace, entry.name, report.message)
    return True


def _deployment_reference(deployment: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": deployment["metadata"]}
