"""A Deployment's revisions, read the way the Deployment controller and ``kubectl rollout`` read them.

Each revision is a ReplicaSet controlled by the Deployment (an ``ownerReferences`` entry with its ``uid`` and
``controller: true``), numbered by its ``deployment.kubernetes.io/revision`` annotation; the Deployment carries the
number of its current revision in the same annotation. Inputs are plain dicts as the Kubernetes API returns them.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _revision_number(obj: Mapping[str, Any]) -> Optional[int]:
    text = (_metadata(obj).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def owned_replicasets(deployment: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The ReplicaSets the Deployment controls (by uid, not by name or labels), whatever else was listed."""
    uid = _metadata(deployment).get("uid")
    if not uid:
        return []
    return [
        rs
        for rs in replicasets
        if any(ref.get("uid") == uid and ref.get("controller") is True for ref in _metadata(rs).get("ownerReferences") or ())
    ]


def replicaset_revisions(deployment: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    """Revision number -> ReplicaSet, for the Deployment's own ReplicaSets that carry a valid revision."""
    result: dict[int, Mapping[str, Any]] = {}
    for rs in owned_replicasets(deployment, replicasets):
        number = _revision_number(rs)
        if number is not None:
            result[number] = rs
    return result


def deployment_revision(deployment: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]] = ()) -> Optional[str]:
    """The Deployment's current revision: its own annotation, else the highest of its ReplicaSets, else ``None``.

    ``None`` means the controller has not rolled the Deployment out yet; there is nothing to gate.
    """
    own = _revision_number(deployment)
    if own is not None:
        return str(own)
    numbers = replicaset_revisions(deployment, replicasets)
    return str(max(numbers)) if numbers else None


def without_pod_template_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a pod template without the ``pod-template-hash`` label the controller adds to ReplicaSets."""
    copy: dict[str, Any] = _deep_copy(template)
    labels = (copy.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return copy


def _deep_copy(value: Any) -> Any:
    """A deep copy made of plain dicts and lists, so read-only mapping views (kopf's bodies) become JSON-ready."""
    if isinstance(value, Mapping):
        return {key: _deep_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_deep_copy(item) for item in value]
    return value
