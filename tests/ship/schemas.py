"""Validation of rendered objects against the Kubernetes OpenAPI schemas that ``kubernetes-validate`` ships.

Strict mode: a field the schema does not know (a typo such as ``readOnlyRootFilesytem``) is an error, as
``kubectl apply --validate=strict`` would make it.
"""

from __future__ import annotations

from typing import Any, Optional


import kubernetes_validate  # a declared dev dependency: a broken install fails here, it does not skip

#: The oldest Kubernetes release the chart supports (Chart.yaml kubeVersion >= 1.25) that is still maintained by
#: the major clouds; kubernetes-validate ships its schemas.
KUBERNETES_VERSION = "1.30.0"

#: Kinds whose schema is not Kubernetes' own, so kubernetes-validate cannot know them.
NOT_KUBERNETES_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "ServiceMonitor is prometheus-operator's CRD, not part of the Kubernetes API",
    ("kopf.dev/v1", "ClusterKopfPeering"): "ClusterKopfPeering is kopf's CRD, not part of the Kubernetes API",
    ("kopf.dev/v1", "KopfPeering"): "KopfPeering is kopf's CRD, not part of the Kubernetes API",
}


def skip_reason(obj: dict[str, Any]) -> Optional[str]:
    """Why ``obj`` cannot be checked against Kubernetes' schemas, or ``None`` when it can."""
    return NOT_KUBERNETES_KINDS.get((obj.get("apiVersion", ""), obj.get("kind", "")))


def validation_error(obj: dict[str, Any]) -> Optional[str]:
    """The first schema violation of ``obj`` as ``Kind/name: path: message``, or ``None`` when it is valid."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        return f"{obj['kind']}/{obj['metadata'].get('name')}: {path}: {error.message}"
    return None
