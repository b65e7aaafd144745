"""The Helm chart (charts/kpi-operator), rendered and linted by the Helm v4 engine of helm-python-sdk, offline."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from kpi_operator.adapters.kube import VERBS_USED
from ship import rbac
from ship.operator_env import config_from_env, container_env, known_variables
from ship.rendering import CHART, CRDS, ROOT, chart_crds, helm, kinds, one, render, render_chart
from ship.schemas import skip_reason, validation_error

PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

#: The non-default set of the issue: a namespace list, a token Secret, a tenant header, no ServiceMonitor, no
#: RBAC, and two replicas with their own leader-election settings.
NON_DEFAULT: dict[str, Any] = {
    "replicaCount": 2,
    "leaderElection": {"enabled": True, "leaseName": "kpi-operator-shop", "leaseDuration": 30, "renewDeadline": 20, "retryPeriod": 5},
    "watch": {"namespaces": ["shop", "platform"], "labelSelector": "team=payments"},
    "prometheus": {
        "url": "https://mimir-query.mimir.svc:8080/prometheus",
        "auth": {"bearerTokenSecret": {"name": "prometheus-token", "key": "token"}},
        "tenant": "tenant-a",
    },
    "serviceMonitor": {"enabled": False},
    "rbac": {"create": False},
}

VALUE_SETS = {"default values": {}, "the non-default set": NON_DEFAULT}


def errors_and_warnings(report: dict[str, Any]) -> list[str]:
    """Lint findings of severity warning (2) or error (3), plus the errors that stopped the lint."""
    return [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2] + list(report["errors"])


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_the_chart_lints_clean_in_strict_mode(values: dict[str, Any]) -> None:
    report = helm().lint(CHART, values, strict=True, namespace="kpi-operator", kube_version="v1.30.0")
    assert report["total_charts_linted"] == 1
    assert errors_and_warnings(report) == []


def test_default_values_render_the_operator_objects() -> None:
    assert kinds(render_chart()) == sorted(
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service", "ServiceMonitor"]
    )


def test_the_chart_installs_the_same_objects_as_the_kustomize_base(kustomized: list[dict[str, Any]]) -> None:
    """Release name and namespace kpi-operator give the base's names; the base adds only the Namespace."""
    chart = {(o["kind"], o["metadata"]["name"]) for o in render_chart() + chart_crds()}
    base = {(o["kind"], o["metadata"]["name"]) for o in kustomized if o["kind"] != "Namespace"}
    assert chart == base


def test_the_non_default_set_renders_what_it_asks_for() -> None:
    objects = render_chart(NON_DEFAULT)
    assert not {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} & set(kinds(objects)), "rbac.create=false"
    assert "ServiceMonitor" not in kinds(objects), "serviceMonitor.enabled=false"
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate", "a new pod stands by until the old one releases the Lease"
    assert not [o for o in objects if o["apiVersion"] == "kopf.dev/v1" or o["kind"] == "CustomResourceDefinition"], "no kopf peering"


def test_kopf_peering_renders_its_objects_when_leader_election_is_off() -> None:
    objects = render_chart({"leaderElection": {"enabled": False}, "peering": {"enabled": True}, "watch": {"namespaces": ["shop", "platform"]}})
    assert one(objects, "Deployment")["spec"]["strategy"]["type"] == "RollingUpdate", "peered replicas may overlap"
    assert not rbac.grants(objects) & rbac.LEADER_ELECTION, "no Lease without leader election"
    peerings = sorted((o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["apiVersion"] == "kopf.dev/v1")
    assert peerings == [("KopfPeering", "platform", "kpi-operator"), ("KopfPeering", "shop", "kpi-operator")]
    peering_crds = {o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"}
    assert peering_crds == {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}


def test_without_leader_election_or_peering_a_rollout_never_overlaps_two_operators() -> None:
    deployment = one(render_chart({"leaderElection": {"enabled": False}}), "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_the_non_default_set_configures_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = one(render_chart(NON_DEFAULT), "Deployment")
    env = container_env(deployment)
    config = config_from_env(env, monkeypatch)
    assert config.namespaces == ["shop", "platform"]
    assert config.label_selector == "team=payments"
    assert config.prometheus_url == "https://mimir-query.mimir.svc:8080/prometheus"
    assert config.prometheus_headers == {"X-Scope-OrgID": "tenant-a"}
    assert config.leader_election is True and config.peering is False
    assert config.leader_election_id == "kpi-operator-shop"
    assert config.election_timing.lease_duration == 30 and config.election_timing.renew_deadline == 20.0 and config.election_timing.retry_period == 5.0
    assert config.problems() == []
    assert {e["name"] for e in env if e["name"].startswith("KPI_OPERATOR_")} <= known_variables()
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    token_volume = next(v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "prometheus-token")
    assert token_volume["secret"]["items"] == [{"key": "token", "path": "token"}]
    mount = next(m for m in container["volumeMounts"] if m["name"] == token_volume["name"])
    assert mount["readOnly"] is True and "subPath" not in mount, "a subPath mount would never see a rotated token"
    assert config.prometheus_token_file == f"{mount['mountPath']}/token"


@pytest.mark.parametrize(
    "ca, volume",
    [
        ({"secretName": "prometheus-ca", "key": "ca.crt"}, {"secret": {"secretName": "prometheus-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}),
        ({"configMapName": "prometheus-ca", "key": "bundle.pem"}, {"configMap": {"name": "prometheus-ca", "items": [{"key": "bundle.pem", "path": "bundle.pem"}]}}),
    ],
    ids=["A CA bundle from a Secret is mounted and passed as a file", "A CA bundle from a ConfigMap is mounted and passed as a file"],
)
def test_a_ca_bundle_reaches_the_operator_as_a_file(ca: dict[str, str], volume: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = one(render_chart({"prometheus": {"tls": {"ca": ca}}}), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ca_volume = next(v for v in pod["volumes"] if v["name"] == "prometheus-ca")
    assert {k: v for k, v in ca_volume.items() if k != "name"} == volume
    mount = next(m for m in container["volumeMounts"] if m["name"] == "prometheus-ca")
    config = config_from_env(container_env(deployment), monkeypatch)
    assert config.prometheus_ca_file == f"{mount['mountPath']}/{ca['key']}"


def test_extra_headers_join_the_tenant_header(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"prometheus": {"tenant": "tenant-a", "headers": {"X-Team": "payments", "Accept-Encoding": "gzip"}}}
    config = config_from_env(container_env(one(render_chart(values), "Deployment")), monkeypatch)
    assert config.prometheus_headers == {"X-Scope-OrgID": "tenant-a", "X-Team": "payments", "Accept-Encoding": "gzip"}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_is_valid_against_the_kubernetes_schemas(values: dict[str, Any]) -> None:
    checked = 0
    for obj in render_chart(values) + chart_crds():
        reason = skip_reason(obj)
        if reason:
            assert obj["kind"] in ("ServiceMonitor", "KopfPeering", "ClusterKopfPeering"), reason
            continue
        assert validation_error(obj) is None, validation_error(obj)
        checked += 1
    assert checked >= 5


# values -> (watch.namespaces, peering, leader election): the RBAC kopf and the operator need in that mode.
NO_ELECTION = {"leaderElection": {"enabled": False}}
RBAC_MODES = {
    "cluster-wide": ({}, False, False, True),
    "restricted to namespaces": ({"watch": {"namespaces": ["shop"]}}, True, False, True),
    "cluster-wide, two replicas": ({"replicaCount": 2}, False, False, True),
    "cluster-wide without leader election": (NO_ELECTION, False, False, False),
    "cluster-wide with peering": ({**NO_ELECTION, "peering": {"enabled": True}}, False, True, False),
    "restricted to namespaces with peering": ({**NO_ELECTION, "peering": {"enabled": True}, "watch": {"namespaces": ["shop", "platform"]}}, True, True, False),
}


@pytest.mark.parametrize("values, namespaced, peering, leader_election", RBAC_MODES.values(), ids=RBAC_MODES.keys())
def test_rbac_grants_exactly_what_the_mode_needs(values: dict[str, Any], namespaced: bool, peering: bool, leader_election: bool) -> None:
    granted = rbac.grants(render_chart(values))
    assert VERBS_USED <= granted, f"not granted: {sorted(VERBS_USED - granted)}"
    assert granted <= rbac.ALLOWED, f"granted but used by nobody: {sorted(granted - rbac.ALLOWED)}"
    expected = rbac.expected_grants(namespaced=namespaced, peering=peering, leader_election=leader_election)
    assert granted == expected, f"extra: {sorted(granted - expected)}, missing: {sorted(expected - granted)}"


def test_chart_rbac_and_kustomize_rbac_are_the_same_set(kustomized: list[dict[str, Any]]) -> None:
    assert rbac.grants(render_chart()) == rbac.grants(kustomized)


def test_the_cluster_role_binding_names_the_service_account_the_pod_uses() -> None:
    objects = render_chart({"serviceAccount": {"name": "ops-bot"}}, name="ops", namespace="observability")
    binding = one(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ops-bot", "namespace": "observability"}]
    assert binding["roleRef"]["name"] == one(objects, "ClusterRole")["metadata"]["name"]
    assert one(objects, "ServiceAccount")["metadata"]["name"] == "ops-bot"
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops-bot"


def test_the_lease_is_granted_only_in_the_release_namespace_to_the_pods_service_account() -> None:
    objects = render_chart({"serviceAccount": {"name": "ops-bot"}}, name="ops", namespace="observability")
    assert rbac.grants(objects, kinds=("Role",)) == rbac.LEADER_ELECTION
    assert not rbac.grants(objects, kinds=("ClusterRole",)) & rbac.LEADER_ELECTION, "Leases in every namespace"
    role, binding = one(objects, "Role"), one(objects, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "observability"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ops-bot", "namespace": "observability"}]
    env = {e["name"]: e.get("value") for e in container_env(one(objects, "Deployment"))}
    assert env["KPI_OPERATOR_LEADER_ELECTION_ID"] == "ops-kpi-operator", "one Lease per release"
    assert "KPI_OPERATOR_LEADER_ELECTION_NAMESPACE" not in env, "the pod's own namespace, where the Role is"


WATCHING_NAMESPACES = {
    "restricted to namespaces": {"watch": {"namespaces": ["shop", "platform"]}},
    "restricted to namespaces with peering": {**NO_ELECTION, "peering": {"enabled": True}, "watch": {"namespaces": ["shop", "platform"]}},
}


@pytest.mark.parametrize("values", WATCHING_NAMESPACES.values(), ids=WATCHING_NAMESPACES.keys())
def test_with_namespaces_listed_no_cluster_role_grants_patch_on_deployments(values: dict[str, Any]) -> None:
    """A gate can act only in a watched namespace: the rights on namespaced resources are a Role in each of them,
    bound to the pod's service account; the ClusterRole keeps only what kopf needs cluster-wide."""
    objects = render_chart(values, name="ops", namespace="observability")
    cluster = rbac.grants(objects, kinds=("ClusterRole",))
    assert ("apps", "deployments", "patch") not in cluster
    assert cluster == rbac.KOPF_ALWAYS | rbac.KOPF_NAMESPACED, f"cluster-wide beyond kopf's needs: {sorted(cluster - rbac.KOPF_ALWAYS - rbac.KOPF_NAMESPACED)}"
    watched = {o["metadata"]["namespace"]: o for o in objects if o["kind"] == "Role" and ("apps", "deployments", "patch") in rbac.grants([o])}
    assert sorted(watched) == ["platform", "shop"]
    peering = rbac.KOPF_PEERING_NAMESPACED if values.get("peering", {}).get("enabled") else frozenset()
    for namespace, role in watched.items():
        assert rbac.grants([role]) == VERBS_USED | peering, namespace
        (binding,) = [o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == namespace]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ops-kpi-operator", "namespace": "observability"}]


def test_the_chart_crds_are_the_top_level_crds_unchanged() -> None:
    copies = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert copies == sorted(p.name for p in CRDS.glob("*.yaml"))
    for name in copies:
        assert (CHART / "crds" / name).read_bytes() == (CRDS / name).read_bytes(), (
            f"charts/kpi-operator/crds/{name} differs from crds/{name}: cp crds/*.yaml charts/kpi-operator/crds/"
        )
    assert {c["metadata"]["name"] for c in chart_crds()} == {"kpis.kpi.dev", "slos.kpi.dev"}


def test_default_pod_settings_match_the_kustomize_base(kustomized: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Security contexts, resources, probes, volumes and the operator's configuration are the same either way."""
    chart_pod = one(render_chart(), "Deployment")["spec"]["template"]["spec"]
    base_pod = one(kustomized, "Deployment")["spec"]["template"]["spec"]
    assert chart_pod["securityContext"] == base_pod["securityContext"]
    (chart_container,), (base_container,) = chart_pod["containers"], base_pod["containers"]
    for field in ("securityContext", "resources", "livenessProbe", "readinessProbe", "ports", "volumeMounts", "image"):
        assert chart_container[field] == base_container[field], field
    assert chart_pod["volumes"] == base_pod["volumes"]
    assert config_from_env(chart_container["env"], monkeypatch) == config_from_env(base_container["env"], monkeypatch)


def test_the_default_image_is_the_project_release_without_a_registry_host() -> None:
    metadata = helm().Chart.load(CHART).metadata
    assert metadata["appVersion"] == PROJECT_VERSION
    (container,) = one(render_chart(), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"kpi-operator:{PROJECT_VERSION}"
    (override,) = one(render_chart({"image": {"tag": "0.2.0-rc1"}}), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert override["image"] == "kpi-operator:0.2.0-rc1"


def test_verbose_logging_is_a_flag_appended_to_run() -> None:
    (container,) = one(render_chart({"verbose": True}), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["--verbose"]


def test_notes_tell_what_is_watched() -> None:
    notes = next(text for path, text in render(NON_DEFAULT).items() if path.endswith("NOTES.txt"))
    assert "in shop, platform" in notes and "2 replicas" in notes


SCHEMA_REJECTS = {
    "An unknown rule schema is refused": ({"ruleSchema": "foo"}, "/ruleSchema"),
    "Two replicas without leader election are refused": ({"replicaCount": 2, "leaderElection": {"enabled": False}}, "/leaderElection/enabled"),
    "kopf peering with leader election is refused": ({"peering": {"enabled": True}}, "/leaderElection/enabled"),
    "A lease duration in fractions of a second is refused": ({"leaderElection": {"leaseDuration": 2.5}}, "/leaderElection/leaseDuration"),
    "A CA from both a Secret and a ConfigMap is refused": ({"prometheus": {"tls": {"ca": {"secretName": "a", "configMapName": "b"}}}}, "/prometheus/tls/ca"),
    "A misspelt top-level key is refused": ({"replicas": 2}, "replicas"),
    "A tenant with a comma (the header list separator) is refused": ({"prometheus": {"tenant": "a,b"}}, "/prometheus/tenant"),
    "A Prometheus URL without a scheme is refused": ({"prometheus": {"url": "prometheus:9090"}}, "/prometheus/url"),
    "An unknown log format is refused": ({"logFormat": "xml"}, "/logFormat"),
    "A watched namespace that is not a DNS label is refused": ({"watch": {"namespaces": ["Shop"]}}, "/watch/namespaces/0"),
}


@pytest.mark.parametrize("values, where", SCHEMA_REJECTS.values(), ids=SCHEMA_REJECTS.keys())
def test_values_schema_rejects_a_bad_value(values: dict[str, Any], where: str) -> None:
    sdk = helm()
    with sdk.Chart.load(CHART) as chart:
        with pytest.raises(sdk.HelmValuesError) as raised:
            chart.validate_schema(chart.merge_values(values))
    assert where in str(raised.value)


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_values_schema_accepts_the_supported_sets(values: dict[str, Any]) -> None:
    with helm().Chart.load(CHART) as chart:
        chart.validate_schema(chart.merge_values(values))


TEMPLATE_REFUSES = {
    "Replicas without leader election": ({"replicaCount": 3, "leaderElection": {"enabled": False}}, "requires leaderElection.enabled=true"),
    "kopf peering with leader election": ({"peering": {"enabled": True}}, "requires leaderElection.enabled=false"),
    "A renew deadline as long as the lease": ({"leaderElection": {"leaseDuration": 10, "renewDeadline": 10}}, "renewDeadline must be below"),
    "A retry period as long as the renew deadline": ({"leaderElection": {"renewDeadline": 2, "retryPeriod": 2}}, "retryPeriod must be below"),
}


@pytest.mark.parametrize("values, message", TEMPLATE_REFUSES.values(), ids=TEMPLATE_REFUSES.keys())
def test_the_template_refuses_what_would_act_twice_even_without_the_schema(tmp_path: Path, values: dict[str, Any], message: str) -> None:
    """A guard in the template too: `--skip-schema-validation` must not deploy two acting operators."""
    unchecked = tmp_path / "kpi-operator"
    shutil.copytree(CHART, unchecked)
    (unchecked / "values.schema.json").unlink()
    sdk = helm()
    with sdk.Chart.load(unchecked) as chart:
        with pytest.raises(sdk.HelmError, match=message):
            chart.render(values, name="kpi-operator", namespace="kpi-operator")
        assert chart.render({"replicaCount": 3}, name="kpi-operator", namespace="kpi-operator")
