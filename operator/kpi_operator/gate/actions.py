"""The patch each gate action needs, built from the Deployment (and its ReplicaSets) as the API returns them.

Every patch is a JSON Patch (RFC 6902, ``application/json-patch+json``), for three reasons:

- A rollback must *replace* ``spec.template``. A JSON merge patch (or a strategic merge patch) merges maps: a
  label, annotation, ``nodeSelector`` entry or resource limit that only the bad revision has would survive the
  "rollback", giving a template that matches no earlier revision. ``kubectl rollout undo`` uses a JSON Patch
  ``replace`` for the same reason.
- Each patch starts with a ``test`` of the Deployment's ``metadata.resourceVersion`` as the gate read it: if
  anything changed the Deployment since it was judged (a user's new template not yet rolled out, another gate's
  act), the API server rejects the whole patch (HTTP 422) instead of acting on a Deployment nobody judged. The
  caller re-reads and judges again next evaluation.
- One patch changes the spec and records the act (``gate.record``: the refused template, the last act, and
  ``kpi.dev/gate-acted-revision`` / ``kpi.dev/gate-action`` for people) atomically, so an operator that
  restarts between the two cannot forget what it did.

``plan_action`` is the one entry point a handler needs; the per-action builders are public for tests and tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Literal, Mapping, Optional

from .revisions import (
    REVISION_ANNOTATION,
    deployment_revision,
    replicaset_revisions,
    without_pod_template_hash,
)
from ..api.timestamps import utc_timestamp
from .record import LastAct, read_record, template_hash
from .verdict import Outcome

ACTED_REVISION_ANNOTATION = "kpi.dev/gate-acted-revision"
ACTION_ANNOTATION = "kpi.dev/gate-action"
REPLICAS_BEFORE_ANNOTATION = "kpi.dev/replicas-before-scale-to-zero"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"

Action = Literal["rollback", "pause", "scaleToZero"]
JSONPatch = list[dict[str, Any]]


@dataclass(frozen=True)
class ActionPlan:
    """What an action will do to one Deployment: the JSON Patch, or ``noop`` and why not.

    ``message`` says what happens (or why nothing does) in words for Events and ``status.gate.lastAction``.
    """

    action: Action
    target: str
    from_revision: Optional[str]
    to_revision: Optional[str]
    patch: JSONPatch
    noop: bool
    message: str
    result_revision: Optional[str] = None
    template: Optional[str] = None
    restored_template: Optional[str] = None


@dataclass(frozen=True)
class RollbackPlan(ActionPlan):
    """A rollback: ``to_revision`` is the revision whose template is restored, ``pod_template`` that template.

    ``result_revision`` is the number the Deployment controller will give the restored template (the highest
    revision plus one, as it renumbers a reused ReplicaSet), for people.
    """

    pod_template: Optional[dict[str, Any]] = None


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _pointer(*parts: str) -> str:
    """A JSON Pointer; ``/`` and ``~`` inside a part (as in annotation keys) are escaped as RFC 6901 says."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _precondition(deployment: Mapping[str, Any]) -> JSONPatch:
    """``test`` ops that fail the patch when the Deployment changed since it was read: its resourceVersion (any
    write at all), else (a Deployment dict without one, in tests and tools) its revision annotation."""
    resource_version = _metadata(deployment).get("resourceVersion")
    if resource_version is not None:
        return [{"op": "test", "path": "/metadata/resourceVersion", "value": resource_version}]
    revision = (_metadata(deployment).get("annotations") or {}).get(REVISION_ANNOTATION)
    if revision is None:
        return []
    return [{"op": "test", "path": _pointer("metadata", "annotations", REVISION_ANNOTATION), "value": revision}]


def _annotate(deployment: Mapping[str, Any], values: Mapping[str, str]) -> JSONPatch:
    """Ops that set ``values`` as annotations; ``add`` of the whole map only when the Deployment has none."""
    if not _metadata(deployment).get("annotations"):
        return [{"op": "add", "path": _pointer("metadata", "annotations"), "value": dict(values)}]
    return [{"op": "add", "path": _pointer("metadata", "annotations", key), "value": value} for key, value in values.items()]


@dataclass(frozen=True)
class Actor:
    """Who acts and when, for the Deployment's record: ``by`` is ``SLO/name`` or ``KPI/name``; ``at`` is the time
    of the act on Prometheus' clock (a restored template is judged only on samples newer than that)."""

    by: str = ""
    at: Optional[float] = None


def _record(
    deployment: Mapping[str, Any],
    action: Action,
    revision: Optional[str],
    actor: Actor,
    restored: Optional[str] = None,
    to_revision: Optional[str] = None,
) -> dict[str, str]:
    """The annotations that record the act, written in the act's own patch."""
    act = LastAct(
        by=actor.by,
        action=action,
        template=template_hash(_spec(deployment).get("template") or {}),
        restored=restored,
        at=actor.at,
        from_revision=revision,
        to_revision=to_revision,
    )
    values: dict[str, str] = {ACTION_ANNOTATION: action, **read_record(deployment).after(act).annotations()}
    if revision is not None:
        values[ACTED_REVISION_ANNOTATION] = revision
    return values


def _name(deployment: Mapping[str, Any]) -> str:
    return str(_metadata(deployment).get("name", "?"))


def _images(template: Mapping[str, Any]) -> str:
    containers = (template.get("spec") or {}).get("containers") or ()
    return ", ".join(str(container.get("image", "?")) for container in containers) or "no containers"


def _replicas(deployment: Mapping[str, Any]) -> int:
    replicas = _spec(deployment).get("replicas")
    return 1 if replicas is None else int(replicas)


def pause_patch(deployment: Mapping[str, Any], actor: Actor = Actor()) -> JSONPatch:
    """Set ``spec.paused: true``: the rollout freezes where it stands; running pods keep running."""
    revision = deployment_revision(deployment)
    return [
        *_precondition(deployment),
        {"op": "add", "path": "/spec/paused", "value": True},
        *_annotate(deployment, _record(deployment, "pause", revision, actor)),
    ]


def scale_to_zero_patch(deployment: Mapping[str, Any], actor: Actor = Actor()) -> JSONPatch:
    """Remember ``spec.replicas`` in ``kpi.dev/replicas-before-scale-to-zero``, then set it to 0.

    A Deployment already at 0 keeps the count remembered earlier: recording 0 would lose the number to restore.
    """
    revision = deployment_revision(deployment)
    replicas = _replicas(deployment)
    values = _record(deployment, "scaleToZero", revision, actor)
    if replicas > 0:
        values = {REPLICAS_BEFORE_ANNOTATION: str(replicas), **values}
    return [
        *_precondition(deployment),
        {"op": "add", "path": "/spec/replicas", "value": 0},
        *_annotate(deployment, values),
    ]


def rollback_plan(deployment: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]], actor: Actor = Actor()) -> RollbackPlan:
    """What ``kubectl rollout undo`` would do: restore the previous revision's pod template.

    The current revision is the Deployment's revision annotation (or its highest ReplicaSet's); the target is the
    highest revision below it among the ReplicaSets the Deployment controls whose template differs from the
    running one and is not in the Deployment's refused templates (``gate.record``: no gate ever restores a template
    any gate acted against). The target's template is written with ``pod-template-hash`` dropped; a paused
    Deployment is resumed in the same patch (a paused Deployment would not roll anything out); the target's
    ``kubernetes.io/change-cause`` comes along, as kubectl does, so ``rollout history`` tells the truth. Nothing
    is done, and ``message`` says why, when there is no such earlier revision.
    """
    name = _name(deployment)
    revisions = replicaset_revisions(deployment, replicasets)
    current_text = deployment_revision(deployment, revisions.values())
    current_template = without_pod_template_hash(_spec(deployment).get("template") or {})
    current_hash = template_hash(current_template)
    if current_text is None:
        return RollbackPlan("rollback", name, None, None, [], True, f"Deployment {name} has no revision yet; nothing to roll back.", template=current_hash)
    current = int(current_text)
    refused = set(read_record(deployment).refused) | {current_hash}
    hashes = {number: template_hash(_spec(rs).get("template") or {}) for number, rs in revisions.items()}
    earlier = [number for number in revisions if number < current and hashes[number] not in refused]
    if not earlier:
        skipped = ""
        if any(number < current and hashes[number] != current_hash for number in revisions):
            skipped = " whose template no gate acted against and"
        return RollbackPlan(
            "rollback",
            name,
            current_text,
            None,
            [],
            True,
            f"Deployment {name} has no revision before {current}{skipped} with another template to roll back to "
            "(older ReplicaSets are gone or were never created; see spec.revisionHistoryLimit); nothing was "
            "changed. Revert the change in Git or deploy a fixed version.",
            template=current_hash,
        )

    target = max(earlier)
    target_rs = revisions[target]
    pod_template = without_pod_template_hash(_spec(target_rs).get("template") or {})
    values = _record(deployment, "rollback", current_text, actor, restored=hashes[target], to_revision=str(target))
    change_cause = (_metadata(target_rs).get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION)
    if change_cause is not None:
        values[CHANGE_CAUSE_ANNOTATION] = change_cause
    patch: JSONPatch = [*_precondition(deployment), {"op": "replace", "path": "/spec/template", "value": pod_template}]
    resumed = ""
    if _spec(deployment).get("paused"):
        patch.append({"op": "replace", "path": "/spec/paused", "value": False})
        resumed = " and resume it (it was paused)"
    patch.extend(_annotate(deployment, values))
    result = max(max(revisions), current) + 1
    return RollbackPlan(
        "rollback",
        name,
        current_text,
        str(target),
        patch,
        False,
        f"Roll Deployment {name} back from revision {current} ({_images(current_template)}) to revision {target} "
        f"({_images(pod_template)}){resumed}.",
        result_revision=str(result),
        template=current_hash,
        restored_template=hashes[target],
        pod_template=pod_template,
    )


def plan_action(action: Action, deployment: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]] = (), actor: Actor = Actor()) -> ActionPlan:
    """The plan for ``gate.action`` on one Deployment; ``replicasets`` (the namespace's, any owner) for rollback.

    Pausing a paused Deployment or scaling one already at 0 replicas is a ``noop``: there is nothing to change,
    and rewriting the remembered replica count with 0 would lose it.
    """
    replicasets = list(replicasets)
    if action == "rollback":
        return rollback_plan(deployment, replicasets, actor)
    name = _name(deployment)
    revision = deployment_revision(deployment, replicaset_revisions(deployment, replicasets).values())
    current = template_hash(_spec(deployment).get("template") or {})
    if action == "pause":
        if _spec(deployment).get("paused"):
            return ActionPlan("pause", name, revision, None, [], True, f"Deployment {name} is already paused; nothing to change.", template=current)
        return ActionPlan("pause", name, revision, None, pause_patch(deployment, actor), False, f"Pause the rollout of Deployment {name} at revision {revision}.", template=current)
    if action == "scaleToZero":
        replicas = _replicas(deployment)
        if replicas == 0:
            return ActionPlan("scaleToZero", name, revision, None, [], True, f"Deployment {name} already has 0 replicas; nothing to change.", template=current)
        return ActionPlan(
            "scaleToZero",
            name,
            revision,
            None,
            scale_to_zero_patch(deployment, actor),
            False,
            f"Scale Deployment {name} from {replicas} replicas to 0 (the count is kept in {REPLICAS_BEFORE_ANNOTATION}).",
            template=current,
        )
    raise ValueError(f"unknown gate action {action!r}: use rollback, pause or scaleToZero")


def last_action(plan: ActionPlan, outcome: Outcome, now: datetime, dry_run: bool) -> dict[str, Any]:
    """``status.gate.lastAction``: what was (or, with ``dry_run``, would have been) done, and the verdict behind it.

    ``reason`` is the verdict's reason (why the gate acted), ``message`` the plan's (what the act did).
    """
    return {
        "action": plan.action,
        "target": plan.target,
        "fromRevision": plan.from_revision,
        "toRevision": plan.to_revision,
        "resultRevision": plan.result_revision,
        "template": plan.template,
        "restoredTemplate": plan.restored_template,
        "value": outcome.value,
        "threshold": outcome.threshold,
        "query": outcome.query,
        "reason": outcome.reason,
        "message": plan.message,
        "noop": plan.noop,
        "time": utc_timestamp(now),
        "dryRun": dry_run,
    }

