"""Whole ``PrometheusRule`` objects (monitoring.coreos.com/v1) and plain rule files, built without a client.

The builder returns the complete object, ownerReference included, so the adapter only has to upsert it.
"""

from __future__ import annotations

from typing import Any, Union

from ..api.models import API_VERSION, KPI, SLO

MANAGED_BY = {"app.kubernetes.io/managed-by": "kpi-operator"}


def build_prometheus_rule(obj: Union[SLO, KPI], groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The PrometheusRule for one object: same name and namespace, its labels copied, owned by it."""
    metadata: dict[str, Any] = {
        "name": obj.metadata.name,
        "namespace": obj.metadata.namespace,
        "labels": {**obj.metadata.labels, **MANAGED_BY},
        "annotations": {"kpi.dev/source": f"{obj.kind}/{obj.metadata.name}"},
    }
    if obj.metadata.uid:
        metadata["ownerReferences"] = [
            {
                "apiVersion": API_VERSION,
                "kind": obj.kind,
                "name": obj.metadata.name,
                "uid": obj.metadata.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": groups},
    }


def build_rule_file(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """A plain Prometheus rule file (what ``rule_files`` loads)."""
    return {"groups": groups}
