"""The RBAC the operator needs: ``VERBS_USED`` (the operator's own calls) plus kopf's needs, declared here.

Rules are compared as sets of ``(apiGroup, resource, verb)``, so the layout of a ClusterRole (how resources and
verbs are grouped into rules) does not matter, only what it grants.
"""

from __future__ import annotations

from typing import Any, Iterable

from kpi_operator.adapters.kube import LEASE_VERBS, VERBS_USED

Triple = tuple[str, str, str]

#: kopf's own needs in every mode. kopf also patches kpis/slos (finalizer, its annotations and diff-base), lists
#: and watches them, patches their status and creates core/v1 Events: all of that is in VERBS_USED already.
KOPF_ALWAYS: frozenset[Triple] = frozenset(
    {
        # Resource scanning: kopf lists CRDs at start-up and watches them to notice KPI/SLO CRDs appear or go.
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    }
)

#: kopf restricted to namespaces (``--namespace`` / watch.namespaces): its namespace observer lists and watches
#: namespaces to follow the ones it serves (cluster-wide, it serves every namespace and lists none).
KOPF_NAMESPACED: frozenset[Triple] = frozenset(
    {
        ("", "namespaces", "list"),  # the initial listing of namespaces to serve
        ("", "namespaces", "watch"),  # namespaces created or deleted later
    }
)

#: kopf peering, cluster-wide: every replica writes a keep-alive into the ClusterKopfPeering and watches the rest.
KOPF_PEERING_CLUSTER: frozenset[Triple] = frozenset(
    {
        ("kopf.dev", "clusterkopfpeerings", "get"),  # read the peering object
        ("kopf.dev", "clusterkopfpeerings", "list"),  # initial listing of peers
        ("kopf.dev", "clusterkopfpeerings", "watch"),  # peers that come and go
        ("kopf.dev", "clusterkopfpeerings", "patch"),  # its own keep-alive and the clean-up of dead peers
    }
)

#: kopf peering restricted to namespaces: the same through a KopfPeering in each served namespace.
KOPF_PEERING_NAMESPACED: frozenset[Triple] = frozenset(
    {
        ("kopf.dev", "kopfpeerings", "get"),  # read the peering object
        ("kopf.dev", "kopfpeerings", "list"),  # initial listing of peers
        ("kopf.dev", "kopfpeerings", "watch"),  # peers that come and go
        ("kopf.dev", "kopfpeerings", "patch"),  # its own keep-alive and the clean-up of dead peers
    }
)

#: Leader election (on by default in the chart and the base): the Lease, through a Role in the operator's namespace.
LEADER_ELECTION: frozenset[Triple] = LEASE_VERBS

#: Everything that may ever be granted; a rule beyond this is a privilege nobody uses.
ALLOWED: frozenset[Triple] = VERBS_USED | KOPF_ALWAYS | KOPF_NAMESPACED | KOPF_PEERING_CLUSTER | KOPF_PEERING_NAMESPACED | LEADER_ELECTION


def expected_grants(*, namespaced: bool, peering: bool, leader_election: bool = True) -> frozenset[Triple]:
    """Exactly what the ClusterRole and the Role together must grant for one way of running the operator."""
    grants = VERBS_USED | KOPF_ALWAYS
    if leader_election:
        grants |= LEADER_ELECTION
    if namespaced:
        grants |= KOPF_NAMESPACED
    if peering:
        grants |= KOPF_PEERING_NAMESPACED if namespaced else KOPF_PEERING_CLUSTER
    return grants


def grants(objects: Iterable[dict[str, Any]], kinds: tuple[str, ...] = ("ClusterRole", "Role")) -> set[Triple]:
    """The ``(apiGroup, resource, verb)`` set granted by the ClusterRoles and Roles (or only ``kinds``) among
    ``objects``."""
    result: set[Triple] = set()
    for obj in objects:
        if obj.get("kind") not in kinds:
            continue
        for rule in obj.get("rules") or []:
            assert not rule.get("resourceNames"), f"{obj['metadata']['name']}: resourceNames would need a test of their own"
            for group in rule.get("apiGroups") or []:
                for resource in rule.get("resources") or []:
                    for verb in rule.get("verbs") or []:
                        assert "*" not in (group, resource, verb), f"{obj['metadata']['name']}: wildcard in {rule}"
                        result.add((group, resource, verb))
    return result
