"""The Kubernetes API, through ``kubernetes_asyncio``: the only place that reads or writes cluster objects.

Builders in ``rules`` and ``gate`` return whole objects and patches; this module only sends them. Every verb the
operator uses is listed in ``VERBS_USED`` so the RBAC in ``manifests/`` and the chart can be checked against it.
"""

from __future__ import annotations

import asyncio

import functools
import json
import logging
import time
from typing import Any, Awaitable, Callable, Optional, TypeVar

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from ..api.models import GROUP, VERSION
from ..api.status import status_json_patch
from ..api.timestamps import utc_timestamp
from ..reconcile import rule_differs

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Answers that retrying the same request cannot change: the request itself is invalid. A 403 or 404 (RBAC, a
# missing CRD) is the cluster's set-up, which can be fixed while the operator runs, so those are retried.
_PERMANENT = frozenset({400, 413, 415, 422})

PLURALS = {"SLO": "slos", "KPI": "kpis"}
MONITORING = ("monitoring.coreos.com", "v1", "prometheusrules")

#: (api group, resource, verb) for everything this module calls; RBAC must grant exactly these.
VERBS_USED: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("kpi.dev", "slos", "get"),
        ("kpi.dev", "slos", "list"),
        ("kpi.dev", "slos", "watch"),
        ("kpi.dev", "slos", "patch"),
        ("kpi.dev", "slos/status", "patch"),
        ("kpi.dev", "kpis", "get"),
        ("kpi.dev", "kpis", "list"),
        ("kpi.dev", "kpis", "watch"),
        ("kpi.dev", "kpis", "patch"),
        ("kpi.dev", "kpis/status", "patch"),
        ("kpi.dev", "slos/finalizers", "update"),  # blockOwnerDeletion on the rule's ownerReference needs it
        ("kpi.dev", "kpis/finalizers", "update"),
        ("monitoring.coreos.com", "prometheusrules", "get"),
        ("monitoring.coreos.com", "prometheusrules", "list"),
        ("monitoring.coreos.com", "prometheusrules", "watch"),
        ("monitoring.coreos.com", "prometheusrules", "create"),
        ("monitoring.coreos.com", "prometheusrules", "patch"),
        ("monitoring.coreos.com", "prometheusrules", "delete"),
        ("apps", "deployments", "get"),
        ("apps", "deployments", "list"),
        ("apps", "deployments", "patch"),
        ("apps", "replicasets", "list"),
        ("", "events", "create"),
        ("events.k8s.io", "events", "create"),
    }
)


#: Leader election's calls (``get_lease``, ``create_lease``, ``replace_lease``), in the operator's own namespace
#: only: the chart and the manifests grant them through a Role there, and only with leader election on.
LEASE_VERBS: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("coordination.k8s.io", "leases", "get"),
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
    }
)


class KubeError(Exception):
    """A request the API server refused or could not answer, with the reason in its message.

    ``permanent``: the server refused this request as it is (invalid, too large), so repeating it cannot
    succeed; otherwise (unreachable, overloaded, forbidden, a conflict) a retry may.
    """

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status

    @property
    def permanent(self) -> bool:
        return self.status in _PERMANENT


def _reason(error: ApiException) -> str:
    """The API server's own message (a Status object's ``message``) rather than the whole HTTP dump."""

    try:
        body = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return f"{error.status} {error.reason}: {message}" if message else f"{error.status} {error.reason}"


async def _checked_json(response: Any) -> Any:
    """The JSON body of a response read with ``_preload_content=False``, or ``KubeError`` for a non-2xx answer.

    kubernetes_asyncio checks the status only when it preloads the content; read raw, a 403, 409, 422 or 500 would
    otherwise come back as if it were the object (a refused rollback recorded as done, a forbidden list read as
    "no Deployment").
    """
    status = getattr(response, "status", 200)
    if 200 <= status < 300:
        return await response.json()
    text = await response.text()
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    reason = getattr(response, "reason", "") or ""
    raise KubeError(f"{status} {reason}: {message}" if message else f"{status} {reason}".strip(), status)


def _raising_kube_error(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Turn the client's exceptions into ``KubeError`` so callers decide on ``permanent`` without knowing the
    client library."""

    @functools.wraps(method)
    async def wrapper(self: "KubeClient", *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.wait_for(method(self, *args, **kwargs), self.request_timeout)
        except asyncio.TimeoutError:
            raise KubeError(f"API server did not answer within {self.request_timeout:g}s") from None
        except ApiException as error:
            raise KubeError(_reason(error), error.status) from error
        except (aiohttp.ClientError, OSError) as error:
            raise KubeError(f"API server unreachable: {error}") from error

    return wrapper


class KubeClient:
    """A thin async wrapper; one ``ApiClient`` for the operator's lifetime."""

    def __init__(self, api_client: client.ApiClient, request_timeout: float = 10.0):
        self.api_client = api_client
        #: Every call's bound (seconds, the whole request): a hung API server is an error the caller handles
        #: (an ``error`` verdict, a retried write), never a cycle that waits forever.
        self.request_timeout = request_timeout
        self.custom = client.CustomObjectsApi(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)

    @classmethod
    async def connect(cls, kubeconfig: Optional[str] = None, request_timeout: float = 10.0) -> "KubeClient":
        """In-cluster credentials when present, else the kubeconfig (``$KUBECONFIG`` or the given file)."""
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        return cls(client.ApiClient(configuration=configuration), request_timeout)

    async def close(self) -> None:
        await self.api_client.close()

    # --- PrometheusRules ---------------------------------------------------------------------------------------

    @_raising_kube_error
    async def get_prometheus_rule(self, namespace: str, name: str) -> Optional[dict[str, Any]]:
        try:
            return await self.custom.get_namespaced_custom_object(*MONITORING[:2], namespace, MONITORING[2], name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    @_raising_kube_error
    async def apply_prometheus_rule(self, desired: dict[str, Any], current: Optional[dict[str, Any]]) -> str:
        """Create the rule, or put back its spec, labels and owner when they differ. Returns what was done:
        ``created``, ``updated`` or ``unchanged`` (so a re-run changes nothing).

        ``current``: the live rule as the caller read it (None when absent) and judged to be the operator's to
        write (``reconcile.rule_ownership``); this method decides nothing about ownership. The patch carries the
        read ``resourceVersion``, so a rule changed or replaced since that read is not overwritten: the API server
        answers 409 Conflict (a ``KubeError`` to retry, which reads and judges again)."""
        meta = desired["metadata"]
        if current is None:
            await self.custom.create_namespaced_custom_object(*MONITORING[:2], meta["namespace"], MONITORING[2], desired)
            return "created"
        if not rule_differs(current, desired):
            return "unchanged"
        # "add" sets an object member whether or not it exists (RFC 6902), so the patch applies to whatever rule
        # holds the name now and the API server gets to compare the resourceVersion: 409, not a 422 "path not
        # found" (which would read as a refused rule) when the rule was replaced by one without labels or owners.
        patch = [
            {"op": "add", "path": "/spec", "value": desired["spec"]},
            {"op": "add", "path": "/metadata/labels", "value": meta.get("labels", {})},
        ]
        if meta.get("ownerReferences"):
            patch.append({"op": "add", "path": "/metadata/ownerReferences", "value": meta["ownerReferences"]})
        if current["metadata"].get("resourceVersion"):
            patch.append({"op": "add", "path": "/metadata/resourceVersion", "value": current["metadata"]["resourceVersion"]})
        await self.custom.patch_namespaced_custom_object(
            *MONITORING[:2], meta["namespace"], MONITORING[2], meta["name"], patch,
            _content_type="application/json-patch+json",
        )
        return "updated"

    @_raising_kube_error
    async def create_prometheus_rule(self, desired: dict[str, Any]) -> bool:
        """Create the rule; False when one of that name exists already (409), which the caller then reads.

        Creating first costs one request for a new object, the common case, instead of a read and a create.
        """
        meta = desired["metadata"]
        try:
            await self.custom.create_namespaced_custom_object(*MONITORING[:2], meta["namespace"], MONITORING[2], desired)
            return True
        except ApiException as error:
            if error.status == 409:
                return False
            raise

    @_raising_kube_error
    async def delete_prometheus_rule(self, namespace: str, name: str, uid: Optional[str] = None, resource_version: Optional[str] = None) -> bool:
        """Delete the rule; ``uid`` and ``resource_version`` (of the rule as read and judged) are preconditions, so a
        rule replaced or changed since is left alone. False when nothing was deleted: gone (404), or changed (409)."""
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        options = {"preconditions": preconditions} if preconditions else None
        try:
            await self.custom.delete_namespaced_custom_object(*MONITORING[:2], namespace, MONITORING[2], name, body=options)
            return True
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise

    # --- KPI / SLO status ----------------------------------------------------------------------------------------

    async def patch_status(
        self, kind: str, namespace: str, name: str, status: dict[str, Any], uid: Optional[str] = None, known: Optional[dict[str, Any]] = None
    ) -> bool:
        """Write ``status`` (a merge-patch body) to the object ``uid`` only; ``False`` when that object is gone,
        whether or not another object has its name now (``status_json_patch`` says why a name is not enough).

        ``known``: the status as the caller last saw it (decides which fields exist to be removed). When the
        server's status differs from it in a way the patch trips on (no status yet, a field already gone), the
        object is read once and the write made against what it holds.
        """
        try:
            await self._json_patch_status(kind, namespace, name, status_json_patch(uid, status, known if known is not None else {}))
            return True
        except KubeError as error:
            if error.status not in (404, 422):
                raise
        body = await self.get_object(kind, namespace, name)
        if body is None or (uid and body.get("metadata", {}).get("uid") != uid):
            return False
        await self._json_patch_status(kind, namespace, name, status_json_patch(uid, status, body.get("status")))
        return True

    @_raising_kube_error
    async def _json_patch_status(self, kind: str, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        await self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURALS[kind], name, ops, _content_type="application/json-patch+json"
        )

    @_raising_kube_error
    async def get_object(self, kind: str, namespace: str, name: str) -> Optional[dict[str, Any]]:
        """A KPI or SLO as the API server holds it, or ``None`` when there is none of that name."""
        try:
            return await self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    # --- Events --------------------------------------------------------------------------------------------------

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """A core/v1 Event about ``involved`` (outside kopf handlers, where ``kopf.event`` has no queue).

        Failures are logged, not raised: an Event is a courtesy to the reader, never worth failing a cycle.
        """
        meta = involved.get("metadata", {})
        now = utc_timestamp(time.time())
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name', 'object')}.", "namespace": meta.get("namespace", "default")},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "kpi-operator"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "kpi-operator",
        }
        try:
            await asyncio.wait_for(self._create_event(meta.get("namespace", "default"), body), self.request_timeout)
        except Exception as error:
            logger.warning("could not post Event %s on %s/%s: %s", reason, meta.get("namespace"), meta.get("name"), error)

    async def _create_event(self, namespace: str, body: dict[str, Any]) -> None:
        await _checked_json(await self.core.create_namespaced_event(namespace, body, _preload_content=False))

    # --- Leases (leader election) ---------------------------------------------------------------------------------

    @_raising_kube_error
    async def get_lease(self, namespace: str, name: str) -> Optional[dict[str, Any]]:
        """The Lease, or None when there is none (404)."""
        response = await self.coordination.read_namespaced_lease(name, namespace, _preload_content=False)
        if getattr(response, "status", 200) == 404:
            response.release()
            return None
        return await _checked_json(response)

    @_raising_kube_error
    async def create_lease(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create the Lease; ``KubeError`` 409 when another candidate created it first."""
        namespace = body["metadata"]["namespace"]
        return await _checked_json(await self.coordination.create_namespaced_lease(namespace, body, _preload_content=False))

    @_raising_kube_error
    async def replace_lease(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the Lease as read (its ``metadata.resourceVersion``): ``KubeError`` 409 when it changed since."""
        meta = body["metadata"]
        return await _checked_json(await self.coordination.replace_namespaced_lease(meta["name"], meta["namespace"], body, _preload_content=False))

    # --- Deployments (the gate) --------------------------------------------------------------------------------

    @_raising_kube_error
    async def list_deployments(self, namespace: str) -> list[dict[str, Any]]:
        result = await self.apps.list_namespaced_deployment(namespace, _preload_content=False)
        return (await _checked_json(result)).get("items", [])

    @_raising_kube_error
    async def list_replicasets(self, namespace: str) -> list[dict[str, Any]]:
        result = await self.apps.list_namespaced_replica_set(namespace, _preload_content=False)
        return (await _checked_json(result)).get("items", [])

    @_raising_kube_error
    async def json_patch_deployment(self, namespace: str, name: str, patch: list[dict[str, Any]]) -> dict[str, Any]:
        result = await self.apps.patch_namespaced_deployment(
            name, namespace, patch, _content_type="application/json-patch+json", _preload_content=False
        )
        return await _checked_json(result)
