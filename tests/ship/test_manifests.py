"""The kustomize base (manifests/): renders offline, is valid Kubernetes, least privilege, hardened, and agrees
with the operator's configuration and the top-level CRDs."""

from __future__ import annotations

import copy
import re
import tomllib
from typing import Any

import pytest

from kpi_operator.adapters.kube import VERBS_USED
from ship import rbac
from ship.operator_env import config_from_env, container_env, known_variables
from ship.rendering import CRDS, MANIFESTS, ROOT, kinds, one
from ship.schemas import KUBERNETES_VERSION, skip_reason, validation_error

NAMESPACE = "kpi-operator"
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_base_renders_every_object_the_operator_needs(kustomized: list[dict[str, Any]]) -> None:
    assert kinds(kustomized) == sorted(
        [
            "Namespace",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
            "ServiceMonitor",
        ]
    )
    assert {o["metadata"]["name"] for o in kustomized if o["kind"] == "CustomResourceDefinition"} == {"kpis.kpi.dev", "slos.kpi.dev"}


def test_the_crds_in_manifests_are_the_top_level_crds_unchanged() -> None:
    """kustomize refuses files outside its folder, so manifests/crds/ is a copy; it must never drift."""
    copies = sorted(p.name for p in (MANIFESTS / "crds").glob("*.yaml"))
    originals = sorted(p.name for p in CRDS.glob("*.yaml"))
    assert copies == originals
    for name in originals:
        assert (MANIFESTS / "crds" / name).read_bytes() == (CRDS / name).read_bytes(), (
            f"manifests/crds/{name} differs from crds/{name}: cp crds/*.yaml manifests/crds/"
        )


def test_every_namespaced_object_lands_in_the_operator_namespace(kustomized: list[dict[str, Any]]) -> None:
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
    for obj in kustomized:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']}"
    assert one(kustomized, "Namespace")["metadata"]["name"] == NAMESPACE


def test_every_object_is_valid_against_the_kubernetes_schemas(kustomized: list[dict[str, Any]]) -> None:
    checked, skipped = [], []
    for obj in kustomized:
        reason = skip_reason(obj)
        if reason:
            skipped.append((obj["kind"], reason))
            continue
        assert validation_error(obj) is None, validation_error(obj)
        checked.append(obj["kind"])
    assert "Deployment" in checked and "CustomResourceDefinition" in checked and "ClusterRole" in checked
    assert skipped == [("ServiceMonitor", "ServiceMonitor is prometheus-operator's CRD, not part of the Kubernetes API")]


def test_the_schema_check_catches_a_misspelt_field(kustomized: list[dict[str, Any]]) -> None:
    """The check above could fail: strict validation refuses a field Kubernetes does not know."""
    deployment = copy.deepcopy(one(kustomized, "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFilesytem"] = True
    error = validation_error(deployment)
    assert error is not None and "readOnlyRootFilesytem" in error, f"Kubernetes {KUBERNETES_VERSION} accepted a typo"


def test_rbac_grants_every_verb_the_operator_uses(kustomized: list[dict[str, Any]]) -> None:
    granted = rbac.grants(kustomized)
    assert VERBS_USED <= granted, f"not granted: {sorted(VERBS_USED - granted)}"


def test_rbac_grants_nothing_beyond_the_operator_and_kopf_cluster_wide(kustomized: list[dict[str, Any]]) -> None:
    """The base runs cluster-wide with leader election: exactly VERBS_USED, kopf's CRD scanning and the Lease."""
    granted = rbac.grants(kustomized)
    assert granted == rbac.expected_grants(namespaced=False, peering=False), (
        f"extra: {sorted(granted - rbac.expected_grants(namespaced=False, peering=False))}, "
        f"missing: {sorted(rbac.expected_grants(namespaced=False, peering=False) - granted)}"
    )


def test_the_lease_is_granted_only_in_the_operator_namespace_to_its_service_account(kustomized: list[dict[str, Any]]) -> None:
    assert rbac.grants(kustomized, kinds=("Role",)) == rbac.LEADER_ELECTION
    assert not rbac.grants(kustomized, kinds=("ClusterRole",)) & rbac.LEADER_ELECTION, "Leases in every namespace"
    role, binding, account = one(kustomized, "Role"), one(kustomized, "RoleBinding"), one(kustomized, "ServiceAccount")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}]


def test_the_cluster_role_is_bound_to_the_operator_service_account(kustomized: list[dict[str, Any]]) -> None:
    binding = one(kustomized, "ClusterRoleBinding")
    role = one(kustomized, "ClusterRole")
    account = one(kustomized, "ServiceAccount")
    deployment = one(kustomized, "Deployment")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_the_pod_runs_non_root_on_a_read_only_root_filesystem(kustomized: list[dict[str, Any]]) -> None:
    pod = one(kustomized, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "a read-only root needs a writable /tmp"


def test_the_container_has_requests_and_limits(kustomized: list[dict[str, Any]]) -> None:
    (container,) = one(kustomized, "Deployment")["spec"]["template"]["spec"]["containers"]
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}, kind


def test_probes_ask_healthz_on_the_metrics_port(kustomized: list[dict[str, Any]]) -> None:
    (container,) = one(kustomized, "Deployment")["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert ports.get(get["port"], get["port"]) == 8080, probe


def test_the_image_is_the_project_release_without_a_registry_host(kustomized: list[dict[str, Any]]) -> None:
    (container,) = one(kustomized, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"kpi-operator:{PROJECT_VERSION}"
    assert not re.match(r"^[^/]+[.:][^/]*/", container["image"]), "no registry host in shipped manifests"


def test_one_acting_replica_through_the_leader_lease_also_during_a_rollout(kustomized: list[dict[str, Any]]) -> None:
    """Leader election on, kopf peering off: a rolling update's new pod stands by until the old one releases the
    Lease, and scaling out adds standbys."""
    deployment = one(kustomized, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate"}
    env = {e["name"]: e.get("value") for e in container_env(deployment)}
    assert env["KPI_OPERATOR_LEADER_ELECTION"] == "true"
    assert env["KPI_OPERATOR_PEERING"] == "false"


def test_every_environment_variable_is_one_the_operator_reads(kustomized: list[dict[str, Any]]) -> None:
    names = {e["name"] for e in container_env(one(kustomized, "Deployment"))}
    operator_names = {n for n in names if n.startswith("KPI_OPERATOR_")}
    assert operator_names <= known_variables(), f"unknown to config.py: {sorted(operator_names - known_variables())}"
    assert "POD_ID" in names, "kopf names its peer identity after POD_ID"


def test_the_operator_reads_the_intended_configuration(kustomized: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_from_env(container_env(one(kustomized, "Deployment")), monkeypatch)
    assert config.prometheus_url == "http://prometheus-operated.monitoring.svc:9090"
    assert config.namespaces == []  # cluster-wide, matching the ClusterRole
    assert config.rule_schema == "native"
    assert config.evaluation_interval == 30.0
    assert config.log_format == "json"
    assert config.metrics_port == 8080
    assert config.peering is False
    assert config.leader_election is True and config.leader_election_id == "kpi-operator" and config.problems() == []


def test_the_service_and_service_monitor_reach_the_metrics_port(kustomized: list[dict[str, Any]]) -> None:
    deployment = one(kustomized, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = one(kustomized, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    monitor = one(kustomized, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == port["name"]
    assert endpoint["path"] == "/metrics"
