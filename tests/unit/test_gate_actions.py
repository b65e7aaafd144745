"""Gate actions as JSON Patches over Deployments and ReplicaSets as the Kubernetes API returns them."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any, Optional

import pytest

from kpi_operator.api.models import LabelSelector
from kpi_operator.gate import (
    Actor,
    Outcome,
    Verdict,
    deployment_revision,
    last_action,
    matches_selector,
    owned_replicasets,
    pause_patch,
    plan_action,
    rollback_plan,
    scale_to_zero_patch,
    template_hash,
)

UID = "5d0f3c1e-8d5a-4c1b-9a52-0c8f2b7e6a11"
OTHER_UID = "9b7e2a44-1f3d-4e0a-8c6b-3a5d7f9e1c22"
IMAGES = {1: "shop/checkout:1.3.0", 2: "shop/checkout:1.4.2", 3: "shop/checkout:1.5.0"}
HASHES = {1: "6d4f9b7c8", 2: "7f8c5d9b6", 3: "5b9d7c6f4"}
NOW = datetime(2026, 1, 1, 12, 0, 30, 250000, tzinfo=timezone.utc)


def template(image: str, pod_template_hash: Optional[str] = None, **labels: str) -> dict[str, Any]:
    """A pod template as the API server returns it (defaults filled in), optionally with a ReplicaSet's hash."""
    all_labels = {"app": "checkout", "track": "canary", **labels}
    if pod_template_hash is not None:
        all_labels["pod-template-hash"] = pod_template_hash
    return {
        "metadata": {"labels": all_labels, "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {
            "containers": [
                {
                    "name": "checkout",
                    "image": image,
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        },
    }


def deployment(
    revision: Optional[int] = 3,
    image: str = IMAGES[3],
    *,
    paused: bool = False,
    replicas: Optional[int] = 2,
    annotations: Optional[dict[str, str]] = None,
    **template_labels: str,
) -> dict[str, Any]:
    """The checkout canary Deployment in namespace shop, at ``revision``."""
    meta_annotations = dict(annotations or {})
    if revision is not None:
        meta_annotations["deployment.kubernetes.io/revision"] = str(revision)
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout-canary",
            "namespace": "shop",
            "uid": UID,
            "resourceVersion": "48213",
            "generation": 7,
            "labels": {"app": "checkout", "track": "canary"},
            "annotations": meta_annotations,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "checkout", "track": "canary"}},
            "template": template(image, **template_labels),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {"observedGeneration": 7, "replicas": 2, "readyReplicas": 2},
    }
    if replicas is None:
        del body["spec"]["replicas"]
    if paused:
        body["spec"]["paused"] = True
    return body


def replicaset(
    revision: int,
    image: Optional[str] = None,
    *,
    owner_uid: str = UID,
    owner_name: str = "checkout-canary",
    controller: bool = True,
    annotations: Optional[dict[str, str]] = None,
    **template_labels: str,
) -> dict[str, Any]:
    """A ReplicaSet of a Deployment at ``revision``, named and labelled with its pod-template-hash."""
    image = image or IMAGES[revision]
    pod_hash = HASHES.get(revision, f"{revision}a{revision}b{revision}c")
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{owner_name}-{pod_hash}",
            "namespace": "shop",
            "uid": f"rs-{owner_name}-{revision}",
            "labels": {"app": "checkout", "track": "canary", "pod-template-hash": pod_hash},
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "deployment.kubernetes.io/desired-replicas": "2",
                "deployment.kubernetes.io/max-replicas": "3",
                **(annotations or {}),
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": owner_name,
                    "uid": owner_uid,
                    "controller": controller,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "checkout", "track": "canary", "pod-template-hash": pod_hash}},
            "template": template(image, pod_hash, **template_labels),
        },
    }


def history(*revisions: int) -> list[dict[str, Any]]:
    return [replicaset(revision) for revision in revisions]


def apply_json_patch(document: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """Just enough RFC 6902 (test, add, replace on objects) to see what the API server would make of a patch."""
    result = copy.deepcopy(document)
    for operation in patch:
        *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]]
        target = result
        for part in parents:
            target = target[part]
        if operation["op"] == "test":
            assert target[last] == operation["value"], f"test failed at {operation['path']}"
        elif operation["op"] == "replace":
            assert last in target, f"replace of a missing member {operation['path']}"
            target[last] = copy.deepcopy(operation["value"])
        elif operation["op"] == "add":
            target[last] = copy.deepcopy(operation["value"])
        else:
            raise AssertionError(f"unexpected op {operation['op']}")
    return result


def rollback_template(revision: int) -> dict[str, Any]:
    return template(IMAGES[revision])


def tpl(revision: int) -> str:
    """The template hash of the revision's image (``gate.record``)."""
    return template_hash(template(IMAGES[revision]))


def refused(*revisions: int) -> dict[str, str]:
    """A Deployment's record of gates that acted against these revisions' templates before."""
    return {"kpi.dev/gate-refused-templates": ",".join(tpl(r) for r in revisions)}


def last_act(action: str, template: int, restored: Optional[int], by: str = "", at: Optional[float] = None, to: Optional[str] = None) -> str:
    restored_hash = f'"{tpl(restored)}"' if restored is not None else "null"
    at_text = "null" if at is None else repr(at)
    to_text = f'"{to}"' if to is not None else "null"
    return (
        f'{{"action":"{action}","at":{at_text},"by":"{by}","fromRevision":"{template}","restored":{restored_hash},'
        f'"template":"{tpl(template)}","toRevision":{to_text}}}'
    )


# --- rollback ---------------------------------------------------------------------------------------------------

REVISION_CHOICES = [
    pytest.param(deployment(3), history(1, 2, 3), "3", "2", id="With revisions 1, 2, 3 and current 3 the target is 2"),
    pytest.param(deployment(3), history(1, 3), "3", "1", id="A gap in the history skips to the highest earlier revision"),
    pytest.param(deployment(None), history(1, 2, 3), "3", "2", id="Without its own annotation the highest ReplicaSet is current"),
    pytest.param(deployment(3), [*history(1, 3), replicaset(2, owner_uid=OTHER_UID, owner_name="checkout-stable")], "3", "1",
                 id="ReplicaSets of other Deployments are ignored"),
    pytest.param(deployment(3), [*history(1, 3), replicaset(2, controller=False)], "3", "1",
                 id="A ReplicaSet the Deployment owns but does not control is ignored"),
    pytest.param(deployment(3), [*history(1, 2, 3), {**replicaset(2), "metadata": {**replicaset(2)["metadata"], "annotations": {}}}],
                 "3", "2", id="A ReplicaSet without a revision annotation is ignored"),
    pytest.param(deployment(3, annotations=refused(2)), history(1, 2, 3), "3", "1",
                 id="A template a gate acted against before is never restored"),
    pytest.param(deployment(4, IMAGES[3]), [*history(1, 2, 3), replicaset(4, IMAGES[3])], "4", "2",
                 id="An earlier revision with the running template is skipped"),
    pytest.param(deployment(2, IMAGES[2]), history(1, 2, 3), "2", "1",
                 id="Revisions above the current one are not candidates"),
]


@pytest.mark.parametrize(("body", "replicasets", "from_revision", "to_revision"), REVISION_CHOICES)
def test_rollback_revision_choice(body: dict[str, Any], replicasets: list[dict[str, Any]], from_revision: str, to_revision: str) -> None:
    plan = rollback_plan(body, replicasets)
    assert (plan.from_revision, plan.to_revision, plan.noop) == (from_revision, to_revision, False)


def test_rollback_patch() -> None:
    plan = rollback_plan(deployment(3), history(1, 2, 3))
    assert plan.patch == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "48213"},
        {"op": "replace", "path": "/spec/template", "value": rollback_template(2)},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-action", "value": "rollback"},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-refused-templates", "value": tpl(3)},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-last-act", "value": last_act("rollback", 3, 2, to="2")},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-acted-revision", "value": "3"},
    ]
    assert (plan.template, plan.restored_template) == (tpl(3), tpl(2))
    assert (plan.action, plan.target, plan.result_revision) == ("rollback", "checkout-canary", "4")
    assert plan.message == (
        "Roll Deployment checkout-canary back from revision 3 (shop/checkout:1.5.0) to revision 2 "
        "(shop/checkout:1.4.2)."
    )


def test_rollback_drops_the_pod_template_hash() -> None:
    plan = rollback_plan(deployment(3), history(1, 2, 3))
    assert plan.pod_template is not None
    assert plan.pod_template["metadata"]["labels"] == {"app": "checkout", "track": "canary"}


def test_the_record_names_who_acted_and_when_and_keeps_earlier_refusals() -> None:
    body = deployment(3, annotations=refused(1))
    after = apply_json_patch(body, rollback_plan(body, history(1, 2, 3), Actor("SLO/checkout", 1767268800.5)).patch)
    annotations = after["metadata"]["annotations"]
    assert annotations["kpi.dev/gate-refused-templates"] == f"{tpl(1)},{tpl(3)}"
    assert annotations["kpi.dev/gate-last-act"] == last_act("rollback", 3, 2, by="SLO/checkout", at=1767268800.5, to="2")


def test_rollback_leaves_no_trace_of_the_bad_template() -> None:
    """A label only revision 3 has is gone: the template is replaced, not merged (why this is a JSON Patch)."""
    body = deployment(3, feature="one-click-checkout")
    after = apply_json_patch(body, rollback_plan(body, history(1, 2, 3)).patch)
    assert after["spec"]["template"] == rollback_template(2)
    assert set(after["metadata"]["annotations"]) == {
        "deployment.kubernetes.io/revision",
        "kpi.dev/gate-action",
        "kpi.dev/gate-acted-revision",
        "kpi.dev/gate-refused-templates",
        "kpi.dev/gate-last-act",
    }


def test_a_paused_deployment_is_resumed_in_the_same_patch() -> None:
    body = deployment(3, paused=True)
    plan = rollback_plan(body, history(1, 2, 3))
    assert {"op": "replace", "path": "/spec/paused", "value": False} in plan.patch
    assert apply_json_patch(body, plan.patch)["spec"]["paused"] is False
    assert plan.message.endswith("and resume it (it was paused).")


def test_an_unpaused_deployment_gets_no_paused_field() -> None:
    plan = rollback_plan(deployment(3), history(1, 2, 3))
    assert all(operation["path"] != "/spec/paused" for operation in plan.patch)


def test_rollback_brings_back_the_change_cause() -> None:
    """As kubectl does, so `kubectl rollout history` shows the cause of what runs."""
    replicasets = [replicaset(2, annotations={"kubernetes.io/change-cause": "release 1.4.2"}), replicaset(3)]
    body = deployment(3, annotations={"kubernetes.io/change-cause": "release 1.5.0"})
    after = apply_json_patch(body, rollback_plan(body, replicasets).patch)
    assert after["metadata"]["annotations"]["kubernetes.io/change-cause"] == "release 1.4.2"


def test_a_deployment_without_annotations_gets_the_whole_map() -> None:
    body = deployment(None)
    body["metadata"].pop("annotations")
    plan = rollback_plan(body, history(1, 2, 3))
    assert plan.patch[-1]["op"] == "add" and plan.patch[-1]["path"] == "/metadata/annotations"
    assert set(plan.patch[-1]["value"]) == {"kpi.dev/gate-action", "kpi.dev/gate-acted-revision", "kpi.dev/gate-refused-templates", "kpi.dev/gate-last-act"}
    assert plan.patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "48213"}


def test_without_a_resource_version_the_precondition_is_the_revision() -> None:
    body = deployment(3)
    body["metadata"].pop("resourceVersion")
    assert rollback_plan(body, history(1, 2, 3)).patch[0] == {
        "op": "test", "path": "/metadata/annotations/deployment.kubernetes.io~1revision", "value": "3"
    }


NOOPS = [
    pytest.param(deployment(3, IMAGES[2]), history(2, 3), None,
                 "Deployment checkout-canary has no revision before 3 with another template to roll back to (older "
                 "ReplicaSets are gone or were never created; see spec.revisionHistoryLimit); nothing was changed. "
                 "Revert the change in Git or deploy a fixed version.",
                 id="Only the running template (ignoring pod-template-hash) before is a noop"),
    pytest.param(deployment(1, IMAGES[1]), history(1), None,
                 "Deployment checkout-canary has no revision before 1 with another template to roll back to (older "
                 "ReplicaSets are gone or were never created; see spec.revisionHistoryLimit); nothing was changed. "
                 "Revert the change in Git or deploy a fixed version.",
                 id="No previous revision is a noop with a reason"),
    pytest.param(deployment(3, annotations=refused(2)), history(2, 3), None,
                 "Deployment checkout-canary has no revision before 3 whose template no gate acted against and with "
                 "another template to roll back to (older ReplicaSets are gone or were never created; see "
                 "spec.revisionHistoryLimit); nothing was changed. Revert the change in Git or deploy a fixed version.",
                 id="Only a template a gate acted against before is a noop with a reason"),
    pytest.param(deployment(3), [replicaset(2, owner_uid=OTHER_UID, owner_name="checkout-stable")], None,
                 "Deployment checkout-canary has no revision before 3 with another template to roll back to (older "
                 "ReplicaSets are gone or were never created; see spec.revisionHistoryLimit); nothing was changed. "
                 "Revert the change in Git or deploy a fixed version.",
                 id="Another Deployment's history is no previous revision"),
    pytest.param(deployment(None), [], None, "Deployment checkout-canary has no revision yet; nothing to roll back.",
                 id="A Deployment not rolled out yet is a noop"),
]


@pytest.mark.parametrize(("body", "replicasets", "to_revision", "message"), NOOPS)
def test_rollback_noop(body: dict[str, Any], replicasets: list[dict[str, Any]], to_revision: Optional[str], message: str) -> None:
    plan = rollback_plan(body, replicasets)
    assert (plan.noop, plan.patch, plan.to_revision, plan.result_revision, plan.message) == (True, [], to_revision, None, message)


# --- pause and scale to zero ------------------------------------------------------------------------------------


def test_pause_patch() -> None:
    assert pause_patch(deployment(3)) == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "48213"},
        {"op": "add", "path": "/spec/paused", "value": True},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-action", "value": "pause"},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-refused-templates", "value": tpl(3)},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-last-act", "value": last_act("pause", 3, None)},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-acted-revision", "value": "3"},
    ]


def test_scale_to_zero_remembers_the_replicas() -> None:
    body = deployment(3, replicas=4)
    assert scale_to_zero_patch(body) == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "48213"},
        {"op": "add", "path": "/spec/replicas", "value": 0},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1replicas-before-scale-to-zero", "value": "4"},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-action", "value": "scaleToZero"},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-refused-templates", "value": tpl(3)},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-last-act", "value": last_act("scaleToZero", 3, None)},
        {"op": "add", "path": "/metadata/annotations/kpi.dev~1gate-acted-revision", "value": "3"},
    ]
    assert apply_json_patch(body, scale_to_zero_patch(body))["spec"]["replicas"] == 0


def test_scale_to_zero_of_unset_replicas_remembers_the_default_of_one() -> None:
    after = apply_json_patch(deployment(3, replicas=None), scale_to_zero_patch(deployment(3, replicas=None)))
    assert after["metadata"]["annotations"]["kpi.dev/replicas-before-scale-to-zero"] == "1"


def test_scale_to_zero_at_zero_keeps_the_remembered_count() -> None:
    body = deployment(3, replicas=0, annotations={"kpi.dev/replicas-before-scale-to-zero": "4"})
    after = apply_json_patch(body, scale_to_zero_patch(body))
    assert after["metadata"]["annotations"]["kpi.dev/replicas-before-scale-to-zero"] == "4"


PLANS = [
    pytest.param("rollback", deployment(3), False, "Roll Deployment checkout-canary back from revision 3 (shop/checkout:1.5.0) to revision 2 (shop/checkout:1.4.2).",
                 id="rollback plans a rollback"),
    pytest.param("pause", deployment(3), False, "Pause the rollout of Deployment checkout-canary at revision 3.",
                 id="pause plans a pause"),
    pytest.param("pause", deployment(3, paused=True), True, "Deployment checkout-canary is already paused; nothing to change.",
                 id="Pausing a paused Deployment is a noop"),
    pytest.param("scaleToZero", deployment(3, replicas=4), False,
                 "Scale Deployment checkout-canary from 4 replicas to 0 (the count is kept in kpi.dev/replicas-before-scale-to-zero).",
                 id="scaleToZero plans a scale to zero"),
    pytest.param("scaleToZero", deployment(3, replicas=0), True, "Deployment checkout-canary already has 0 replicas; nothing to change.",
                 id="Scaling a Deployment at 0 replicas is a noop"),
]


@pytest.mark.parametrize(("action", "body", "noop", "message"), PLANS)
def test_plan_action(action: Any, body: dict[str, Any], noop: bool, message: str) -> None:
    plan = plan_action(action, body, history(1, 2, 3))
    assert (plan.action, plan.target, plan.from_revision, plan.noop, plan.message) == (action, "checkout-canary", "3", noop, message)
    assert (plan.patch == []) is noop


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown gate action 'delete'"):
        plan_action("delete", deployment(3))  # type: ignore[arg-type]


def test_last_action() -> None:
    outcome = Outcome(
        Verdict.FAIL,
        "KPI checkout-conversion has been below its critical threshold 0.025 for 5m (now 0.021), at least its for of 5m.",
        0.021,
        0.025,
        'kpi:value{kpi_namespace="shop",kpi_name="checkout-conversion"}',
    )
    plan = rollback_plan(deployment(3), history(1, 2, 3))
    assert last_action(plan, outcome, NOW, dry_run=False) == {
        "action": "rollback",
        "target": "checkout-canary",
        "fromRevision": "3",
        "toRevision": "2",
        "resultRevision": "4",
        "template": tpl(3),
        "restoredTemplate": tpl(2),
        "value": 0.021,
        "threshold": 0.025,
        "query": 'kpi:value{kpi_namespace="shop",kpi_name="checkout-conversion"}',
        "reason": "KPI checkout-conversion has been below its critical threshold 0.025 for 5m (now 0.021), at least its for of 5m.",
        "message": "Roll Deployment checkout-canary back from revision 3 (shop/checkout:1.5.0) to revision 2 (shop/checkout:1.4.2).",
        "noop": False,
        "time": "2026-01-01T12:00:30Z",
        "dryRun": False,
    }


# --- revisions and selectors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "replicasets", "revision"),
    [
        pytest.param(deployment(3), [], "3", id="The Deployment's own annotation is its revision"),
        pytest.param(deployment(None), history(1, 2, 3), "3", id="Without it, the highest ReplicaSet's"),
        pytest.param(deployment(None), [], None, id="A Deployment not rolled out yet has none"),
    ],
)
def test_deployment_revision(body: dict[str, Any], replicasets: list[dict[str, Any]], revision: Optional[str]) -> None:
    assert deployment_revision(body, replicasets) == revision


def test_owned_replicasets_go_by_uid() -> None:
    mine, theirs = replicaset(2), replicaset(2, owner_uid=OTHER_UID, owner_name="checkout-canary")
    assert owned_replicasets(deployment(3), [mine, theirs]) == [mine]


LABELS = {"app": "checkout", "track": "canary", "tier": "web"}
SELECTORS = [
    pytest.param({"matchLabels": {"app": "checkout", "track": "canary"}}, True, id="matchLabels that all agree select"),
    pytest.param({"matchLabels": {"app": "checkout", "track": "stable"}}, False, id="One differing label does not select"),
    pytest.param({"matchExpressions": [{"key": "track", "operator": "In", "values": ["canary", "preview"]}]}, True, id="In selects a listed value"),
    pytest.param({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, False, id="In needs the label"),
    pytest.param({"matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["stable"]}]}, True, id="NotIn selects another value"),
    pytest.param({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, True, id="NotIn selects an absent label"),
    pytest.param({"matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]}]}, False, id="NotIn refuses a listed value"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True, id="Exists selects a present label"),
    pytest.param({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, False, id="Exists refuses an absent label"),
    pytest.param({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, True, id="DoesNotExist selects an absent label"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False, id="DoesNotExist refuses a present label"),
    pytest.param({"matchLabels": {"app": "checkout"}, "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable"]}]}, False,
                 id="matchLabels and matchExpressions must both hold"),
    pytest.param({}, True, id="An empty selector selects everything, as in Kubernetes"),
    pytest.param(None, False, id="No selector selects nothing"),
    pytest.param(LabelSelector.model_validate({"matchLabels": {"app": "checkout"}, "matchExpressions": [{"key": "track", "operator": "In", "values": ["canary"]}]}),
                 True, id="The gate's LabelSelector model works as well as its dict"),
]


@pytest.mark.parametrize(("selector", "selected"), SELECTORS)
def test_matches_selector(selector: Any, selected: bool) -> None:
    assert matches_selector(LABELS, selector) is selected


def test_an_unknown_selector_operator_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown label selector operator 'Gt'"):
        matches_selector(LABELS, {"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]})
