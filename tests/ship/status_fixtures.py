"""KPI and SLO objects in every state the operator puts them in, built by the operator's own code.

Every status comes from the operator's own pure planning, merged into the object the way the API server merges a
status patch: ``plan_reconcile`` (what a reconcile writes), ``plan_status`` (what an evaluation cycle in which
Prometheus answered writes), ``plan_outage`` (what a Prometheus outage writes) and the gate's rounds
(``plan_round`` / ``finish_round``). Nothing the operator decides is re-stated here.

Each case names what Argo CD's health check (manifests/argocd/health.lua) and kstatus (what Flux's health checks
use) must make of it.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from kpi_operator.api.models import KPI
from kpi_operator.api.status import status_type
from kpi_operator.evaluation import ObjectSeries, Tracked, evaluate, plan_outage, plan_status
from kpi_operator.gate import KPIReading, kpi_verdict
from kpi_operator.gate.rounds import finish_round, plan_round
from kpi_operator.reconcile import plan_reconcile
from kpi_operator.rules.windows import period_window, recorded_windows

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.datetime(2026, 3, 2, 9, 0, 0, tzinfo=datetime.timezone.utc)


def iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def example(filename: str, generation: int = 1) -> dict[str, Any]:
    """An object of examples/ as the API server returns it: with uid, generation and creationTimestamp."""
    body: dict[str, Any] = yaml.safe_load((ROOT / "examples" / filename).read_text())
    body["metadata"].update(uid=f"uid-{body['metadata']['name']}", generation=generation, creationTimestamp=iso(T0))
    return body


def with_status_patch(body: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``body`` after a merge patch of its status (top-level status fields replaced, the others kept)."""
    result = copy.deepcopy(body)
    result["status"] = {**(result.get("status") or {}), **copy.deepcopy(patch)}
    return result


def reconciled(body: dict[str, Any], at: datetime.datetime = T0) -> dict[str, Any]:
    """What a reconcile of ``body`` leaves behind."""
    return with_status_patch(body, plan_reconcile(body, "native", iso(at)).status.to_patch())


def _tracked(body: dict[str, Any]) -> Tracked:
    meta = body["metadata"]
    kind = body["kind"]
    obj = plan_reconcile(body, "native", iso(T0)).obj
    gated = obj is not None and obj.spec.gate is not None
    return Tracked(key=(kind, meta["namespace"], meta["name"]), status=status_type(kind).from_wire(body.get("status")), gated=gated)


def evaluated(body: dict[str, Any], series: ObjectSeries, at: datetime.datetime) -> dict[str, Any]:
    """What the evaluation loop writes after a cycle in which Prometheus answered."""
    obj = plan_reconcile(body, "native", iso(at)).obj
    assert obj is not None, "only valid objects are evaluated"
    patch = plan_status(_tracked(body), evaluate(obj, series), None, at.timestamp(), 30.0)
    assert patch is not None
    return with_status_patch(body, patch.to_patch())


def prometheus_down(body: dict[str, Any], at: datetime.datetime) -> dict[str, Any]:
    """What the evaluation loop writes when Prometheus does not answer."""
    ((patch, _message),) = plan_outage([_tracked(body)], "Prometheus query failed: connection refused", at.timestamp()).values()
    return with_status_patch(body, patch.to_patch())


def canary(revision: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A canary Deployment at ``revision`` (opted in to any gate of its namespace) and the ReplicaSets of its
    revisions, as the API returns them."""
    labels = {"app": "checkout", "track": "canary"}

    def template(image: str) -> dict[str, Any]:
        return {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{"name": "checkout", "image": image}]}}

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout-canary", "namespace": "shop", "uid": "uid-deploy", "labels": dict(labels),
                     "annotations": {"deployment.kubernetes.io/revision": str(revision), "kpi.dev/gated-by": "*"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)}, "template": template(f"checkout:1.{revision}")},
    }
    replicasets = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"checkout-canary-{number}",
                "namespace": "shop",
                "annotations": {"deployment.kubernetes.io/revision": str(number)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout-canary", "uid": "uid-deploy", "controller": True}],
            },
            "spec": {"replicas": 0, "selector": {"matchLabels": dict(labels)}, "template": template(f"checkout:1.{number}")},
        }
        for number in range(1, revision + 1)
    ]
    return deployment, replicasets


def gate_run(body: dict[str, Any], value: float, at: datetime.datetime, dry_run: bool = False) -> dict[str, Any]:
    """The gate of a KPI judging a canary at ``value`` for ``failureLimit`` evaluations, as the gate loop runs it."""
    if dry_run:
        body = copy.deepcopy(body)
        body["spec"]["gate"]["dryRun"] = True
    kpi = plan_reconcile(body, "native", iso(at)).obj
    assert isinstance(kpi, KPI) and kpi.spec.gate is not None
    deployment, replicasets = canary(revision=2)
    gate = status_type("KPI").from_wire(body.get("status")).gate
    for cycle in range(kpi.spec.gate.failure_limit):
        now = at + datetime.timedelta(seconds=30 * cycle)
        samples = [(now.timestamp() - seconds, value) for seconds in range(0, 420, 30)]
        outcome = kpi_verdict(kpi, KPIReading(samples=samples, query=kpi.spec.query))
        round_ = plan_round(gate, outcome, kpi.spec.gate, [deployment], replicasets, now)
        gate = finish_round(round_)
    assert gate is not None and gate.state == ("DryRun" if dry_run else "Acted"), gate
    return with_status_patch(body, {"gate": gate.to_patch()})


def slo_series(error_ratio: float, slo_body: dict[str, Any], firing: frozenset[str] = frozenset()) -> ObjectSeries:
    slo = plan_reconcile(slo_body, "native", iso(T0)).obj
    assert slo is not None
    windows = recorded_windows(slo) + [period_window(slo)]  # type: ignore[arg-type]
    return ObjectSeries(error_ratios={w: [error_ratio] for w in windows}, firing=set(firing))


def edited(body: dict[str, Any], change: Callable[[dict[str, Any]], None], bump: bool = True) -> dict[str, Any]:
    """``body`` after a user changed its spec: the API server bumps metadata.generation, status stays.

    ``bump=False`` stands for an object created with that spec in the first place.
    """
    result = copy.deepcopy(body)
    change(result["spec"])
    if bump:
        result["metadata"]["generation"] += 1
    return result


def _later(minutes: int) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def _break_query(spec: dict[str, Any]) -> None:
    spec["indicator"]["ratio"]["errors"] = 'sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}])'


def _raise_objective(spec: dict[str, Any]) -> None:
    spec["objective"] = 99.95


@dataclass(frozen=True)
class Case:
    """One object and what each GitOps health check must make of it."""

    body: dict[str, Any]
    argocd: Optional[str]  # Argo CD health status; None: Argo CD decides itself (deletion)
    kstatus: str  # kstatus status (Current, InProgress, Failed, Terminating)
    needs_crd_status_default: bool = False


def cases() -> dict[str, Case]:
    """Sentence -> case, for parametrized tests."""
    slo = example("checkout-availability.yaml")
    kpi = example("checkout-conversion-kpi.yaml")
    slo_reconciled = reconciled(slo)
    kpi_reconciled = reconciled(kpi)
    slo_healthy = evaluated(slo_reconciled, slo_series(0.0002, slo), _later(1))
    kpi_healthy = evaluated(kpi_reconciled, ObjectSeries(values=[0.031]), _later(1))
    kpi_critical = evaluated(kpi_reconciled, ObjectSeries(values=[0.02]), _later(10))
    deleting = copy.deepcopy(slo_healthy)
    deleting["metadata"]["deletionTimestamp"] = iso(_later(30))
    deleting["metadata"]["finalizers"] = ["kpi.dev/kpi-operator"]
    return {
        "A new SLO the operator has not reconciled yet has no status": Case(slo, "Progressing", "InProgress", needs_crd_status_default=True),
        "A new KPI the operator has not reconciled yet has no status": Case(kpi, "Progressing", "InProgress", needs_crd_status_default=True),
        "Rules applied and the first evaluation pending is Reconciling": Case(slo_reconciled, "Progressing", "InProgress"),
        "An edited spec the operator has not seen yet has an older observedGeneration": Case(
            edited(slo_healthy, _raise_objective), "Progressing", "InProgress"
        ),
        "An evaluated SLO within its budget is Ready and Healthy": Case(slo_healthy, "Healthy", "Current"),
        "An evaluated KPI on target is Ready and Healthy": Case(kpi_healthy, "Healthy", "Current"),
        "A KPI past its warning threshold is still Healthy": Case(
            evaluated(kpi_reconciled, ObjectSeries(values=[0.027]), _later(5)), "Healthy", "Current"
        ),
        "A KPI without samples (NoData) is Ready and Healthy": Case(evaluated(kpi_reconciled, ObjectSeries(), _later(5)), "Healthy", "Current"),
        "An SLO with invalid PromQL is Stalled": Case(reconciled(edited(slo, _break_query, bump=False)), "Degraded", "Failed"),
        "An invalid edit of a working SLO is Stalled at the new generation": Case(
            reconciled(edited(slo_healthy, _break_query), _later(20)), "Degraded", "Failed"
        ),
        "An SLO burning its budget at page rate is Critical": Case(
            evaluated(slo_reconciled, slo_series(0.02, slo, frozenset({"page"})), _later(10)), "Degraded", "Current"
        ),
        "A KPI beyond its critical threshold is Critical": Case(kpi_critical, "Degraded", "Current"),
        "Prometheus unreachable makes an SLO Unknown and Stalled": Case(prometheus_down(slo_healthy, _later(15)), "Unknown", "Failed"),
        "Prometheus unreachable makes a KPI Unknown and Stalled": Case(prometheus_down(kpi_healthy, _later(15)), "Unknown", "Failed"),
        "A canary gate that acted suspends the KPI": Case(gate_run(kpi_critical, 0.02, _later(10)), "Suspended", "Current"),
        "A canary gate in dry run leaves a Critical KPI Degraded": Case(gate_run(kpi_critical, 0.02, _later(10), dry_run=True), "Degraded", "Current"),
        "An SLO being deleted is Terminating": Case(deleting, None, "Terminating"),
    }
