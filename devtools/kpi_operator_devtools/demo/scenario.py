"""The demo's objects: a checkout service with a stable and a canary Deployment, an SLO gating the canary,
and a conversion KPI. Plain dicts, as ``kubectl apply`` would send them."""

from __future__ import annotations

from typing import Any

NAMESPACE = "shop"
CANARY_SLO = "checkout-canary-availability"


def template(track: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "checkout", "track": track}},
        "spec": {"containers": [{"name": "checkout", "image": image, "ports": [{"containerPort": 8080}]}]},
    }


def deployment(track: str, image: str, replicas: int) -> dict[str, Any]:
    """The canary opts in to the SLO's gate (``kpi.dev/gated-by``); the stable Deployment opts in to none. The
    emulated API's Deployment controller gives each rollout its ReplicaSet and revision."""
    annotations = {}
    if track == "canary":
        annotations["kpi.dev/gated-by"] = f"SLO/{CANARY_SLO}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"checkout-{track}",
            "namespace": NAMESPACE,
            "labels": {"app": "checkout", "track": track},
            "annotations": annotations,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "checkout", "track": track}},
            "template": template(track, image),
        },
    }


def canary_slo(failure_limit: int) -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": CANARY_SLO, "namespace": NAMESPACE, "labels": {"release": "prometheus"}},
        "spec": {
            "service": "checkout",
            "owner": "team-payments",
            "description": "99.5% of canary checkout requests succeed",
            "objective": 99.5,
            "window": "30d",
            "indicator": {
                "ratio": {
                    "errors": 'sum(rate(http_requests_total{service="checkout",track="canary",code=~"5.."}[{{.window}}]))',
                    "total": 'sum(rate(http_requests_total{service="checkout",track="canary"}[{{.window}}]))',
                }
            },
            "alerting": {"name": "CheckoutCanaryBurn"},
            "gate": {
                "selector": {"matchLabels": {"app": "checkout", "track": "canary"}},
                "action": "rollback",
                "failureLimit": failure_limit,
                "noData": "hold",
            },
        },
    }


def conversion_kpi() -> dict[str, Any]:
    return {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "KPI",
        "metadata": {"name": "checkout-conversion", "namespace": NAMESPACE},
        "spec": {
            "owner": "team-growth",
            "description": "Share of checkout sessions that place an order",
            "query": "avg(checkout_conversion_ratio)",
            "window": "1m",
            "unit": "ratio",
            "target": {"op": ">=", "value": 0.03},
            "thresholds": {"warning": 0.028, "critical": 0.025},
        },
    }
