"""kstatus conformance, what Flux's health checks (and `kubectl wait`, kpt, Config Sync) read from KPIs and SLOs.

``kstatus`` below restates the generic rules of kstatus (sigs.k8s.io/cli-utils, pkg/kstatus/status: Compute and
checkGenericProperties) for a custom resource, the only rules that apply to a kind kstatus has no built-in
knowledge of:

1. ``metadata.deletionTimestamp`` set -> Terminating.
2. ``status.observedGeneration`` present and different from ``metadata.generation`` -> InProgress.
3. The first condition that is ``Reconciling=True`` -> InProgress, or ``Stalled=True`` -> Failed.
4. Otherwise -> Current. kstatus never reads ``Ready``: conditions are "abnormal-true", so the operator must set
   Reconciling or Stalled whenever Ready is not True (test_ready_false_always_comes_with_an_abnormal_true_condition).

Rule 4 also makes an object without any status Current. Flux's own CRDs avoid that by defaulting
``status.observedGeneration`` to -1 in the CRD schema (the API server then shows -1 until the controller writes a
status, and rule 2 says InProgress); the cases that need it are expected to fail until the CRDs do the same.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from kpi_operator.api import conditions as cond
from ship.rendering import CRDS, MANIFESTS, ROOT
from ship.status_fixtures import Case, cases

FLUX_EXAMPLE = MANIFESTS / "flux" / "kustomization.yaml"


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus' status of a custom resource: Terminating, InProgress, Failed or Current."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if metadata.get("deletionTimestamp"):
        return "Terminating"
    generation, observed = metadata.get("generation"), status.get("observedGeneration")
    if generation is not None and observed is not None and observed != generation:
        return "InProgress"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return "InProgress"
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return "Failed"
    return "Current"


KSTATUS_RULES = {
    "An object being deleted is Terminating whatever its conditions say": (
        {"metadata": {"generation": 1, "deletionTimestamp": "2026-03-02T09:00:00Z"}, "status": {"observedGeneration": 1, "conditions": [{"type": "Stalled", "status": "True"}]}},
        "Terminating",
    ),
    "An observedGeneration behind the generation is InProgress even when Ready": (
        {"metadata": {"generation": 3}, "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}},
        "InProgress",
    ),
    "Reconciling=True is InProgress": ({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Reconciling", "status": "True"}]}}, "InProgress"),
    "Stalled=True is Failed": ({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Stalled", "status": "True"}]}}, "Failed"),
    "Ready=True at the latest generation is Current": ({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}}, "Current"),
    "Ready=False alone is Current: kstatus reads only abnormal-true conditions": (
        {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False"}]}},
        "Current",
    ),
    "No status at all is Current": ({"metadata": {"generation": 1}}, "Current"),
    "An observedGeneration of -1 (a CRD default) is InProgress": ({"metadata": {"generation": 1}, "status": {"observedGeneration": -1}}, "InProgress"),
}


@pytest.mark.parametrize("obj, expected", KSTATUS_RULES.values(), ids=KSTATUS_RULES.keys())
def test_the_restatement_follows_kstatus_rules(obj: dict[str, Any], expected: str) -> None:
    assert kstatus(obj) == expected


def crd_for(kind: str) -> dict[str, Any]:
    crd: dict[str, Any] = next(
        doc for path in CRDS.glob("*.yaml") for doc in yaml.safe_load_all(path.read_text()) if doc and doc["spec"]["names"]["kind"] == kind
    )
    return crd


def status_default(kind: str) -> Any:
    """The default the API server gives ``status`` of ``kind`` when it is absent (None: no default)."""
    (version,) = [v for v in crd_for(kind)["spec"]["versions"] if v.get("storage")]
    return version["schema"]["openAPIV3Schema"]["properties"]["status"].get("default")


def as_served(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the API server returns it: an absent status gets the CRD's default, if it has one."""
    served = copy.deepcopy(obj)
    default = status_default(obj["kind"])
    if "status" not in served and default is not None:
        served["status"] = copy.deepcopy(default)
    return served


ALL = cases()


@pytest.mark.parametrize("case", ALL.values(), ids=ALL.keys())
def test_operator_statuses_give_the_right_kstatus(case: Case) -> None:
    if case.needs_crd_status_default:
        # Without the CRD's default, kstatus calls a new object Current before the operator has seen it (Flux's
        # health check would pass too early).
        assert status_default(case.body["kind"]) == {"observedGeneration": -1}, f"crds/: the {case.body['kind']} CRD must default status.observedGeneration to -1"
    assert kstatus(as_served(case.body)) == case.kstatus


@pytest.mark.parametrize("case", ALL.values(), ids=ALL.keys())
def test_ready_false_always_comes_with_an_abnormal_true_condition(case: Case) -> None:
    """So kstatus (which ignores Ready) and `kubectl wait --for=condition=Ready` never disagree."""
    conditions = {c["type"]: c["status"] for c in (case.body.get("status") or {}).get("conditions") or []}
    if conditions.get("Ready") == "False":
        assert "True" in (conditions.get("Reconciling"), conditions.get("Stalled")), conditions
    assert not (conditions.get("Reconciling") == "True" and conditions.get("Stalled") == "True"), conditions


@pytest.mark.parametrize(
    "set_conditions, expected",
    [
        (cond.ready, {"Ready": "True", "Reconciling": "False", "Stalled": "False"}),
        (cond.reconciling, {"Ready": "False", "Reconciling": "True", "Stalled": "False"}),
        (cond.stalled, {"Ready": "False", "Reconciling": "False", "Stalled": "True"}),
    ],
    ids=["ready() sets only Ready true", "reconciling() pairs Ready=False with Reconciling=True", "stalled() pairs Ready=False with Stalled=True"],
)
def test_each_condition_helper_sets_all_three_kstatus_conditions(set_conditions: Any, expected: dict[str, str]) -> None:
    previous = cond.stalled([], "InvalidSpec", "broken", "2026-03-02T09:00:00Z", 1)
    result = set_conditions(previous, "Reason", "message", "2026-03-02T09:01:00Z", 2)
    assert {c.type: c.status for c in result} == expected
    assert all(c.observed_generation == 2 for c in result)


def flux_documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(FLUX_EXAMPLE.read_text()) if doc]


def test_the_flux_example_parses_into_two_kustomizations() -> None:
    documents = flux_documents()
    assert [(d["apiVersion"], d["kind"]) for d in documents] == [("kustomize.toolkit.fluxcd.io/v1", "Kustomization")] * 2
    for document in documents:
        spec = document["spec"]
        assert {"interval", "sourceRef", "path", "prune"} <= set(spec), document["metadata"]["name"]
        assert spec["sourceRef"]["kind"] == "GitRepository"


def test_the_operator_kustomization_waits_for_everything_it_applies() -> None:
    operator = next(d for d in flux_documents() if d["metadata"]["name"] == "kpi-operator")
    assert operator["spec"]["wait"] is True
    assert operator["spec"]["path"] == "./manifests"
    assert (ROOT / operator["spec"]["path"] / "kustomization.yaml").is_file()


def test_the_objectives_kustomization_health_checks_kpis_and_slos() -> None:
    """Flux ignores healthChecks when wait is true, so the Kustomization that lists them must not wait."""
    objectives = next(d for d in flux_documents() if d["spec"].get("healthChecks"))
    spec = objectives["spec"]
    assert spec.get("wait", False) is False
    assert spec["dependsOn"] == [{"name": "kpi-operator"}]
    examples = {(d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for p in (ROOT / "examples").glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d}
    kinds = set()
    for check in spec["healthChecks"]:
        crd = crd_for(check["kind"])
        served = {f"{crd['spec']['group']}/{v['name']}" for v in crd["spec"]["versions"] if v.get("served")}
        assert check["apiVersion"] in served
        assert (check["kind"], check["namespace"], check["name"]) in examples, "health checks name objects of examples/"
        kinds.add(check["kind"])
    assert kinds == {"KPI", "SLO"}
