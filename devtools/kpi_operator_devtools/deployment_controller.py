"""
The Deployment controller of kube-controller-manager (and the ReplicaSet controller's status), for KubeEmulator.

WHY: the canary gate rolls a Deployment back by writing an older ReplicaSet's pod template to it, and relies on
what the real controller does next: find the ReplicaSet whose template is equal (the ``pod-template-hash`` label
aside), give it the next revision number (the renumbering ``kubectl rollout history`` shows after an undo), and
scale it up. Without a controller, tests make those ReplicaSets and numbers by hand, shaped after what the code
expects. This module follows ``pkg/controller/deployment`` of Kubernetes (``sync.go``, ``rolling.go``,
``progress.go``, ``util/deployment_util.go``) step by step, on the emulator's stored dicts:

* the new ReplicaSet is the oldest owned one whose template equals the Deployment's (compared as Go's typed
  decoding and ``Semantic.DeepEqual`` would: ``null``, ``{}`` and ``[]`` are all "unset"); its revision becomes
  the highest revision of the *other* owned ReplicaSets plus one, the revision it had goes to
  ``deployment.kubernetes.io/revision-history``, and the Deployment's annotations are copied to it (all but
  last-applied-configuration and the controller's own);
* else a ReplicaSet ``<deployment>-<hash>`` is created (FNV-32a of the template and ``status.collisionCount``,
  encoded as the API machinery's ``SafeEncodeString``; the same scheme as the real one, not the same input bytes,
  so the names differ from a cluster's); a name taken by another template bumps ``collisionCount``;
* a paused Deployment rolls nothing out: no new ReplicaSet, no renumbering of a new template, but scaling applies
  (to the one active ReplicaSet, as ``FindActiveOrLatest``) and ``Progressing`` says ``DeploymentPaused``;
* old ReplicaSets beyond ``spec.revisionHistoryLimit`` (default 10), with no replicas, are deleted oldest
  revision first; the status (``observedGeneration``, replica counts, ``Available`` and ``Progressing``
  conditions, ``collisionCount``) is written with the ``omitempty`` rules of the real API.

One simplification: pods are ready the moment a ReplicaSet asks for them (the ReplicaSet controller's status is
set from ``spec.replicas`` at once), so a rollout completes in one sync: the new ReplicaSet goes to
``spec.replicas`` and the old ones to 0 directly, without the surge and unavailability steps in between (the
rollout strategy only shows in the ``max-replicas`` annotation). Not emulated: adoption and orphaning of
ReplicaSets by selector (ownership is the controller ``ownerReference`` only), proportional scaling of several
active ReplicaSets, progress deadlines (nothing ever times out), pods, and defaulting of the stored Deployment
(missing fields are read with the API's defaults: 1 replica, RollingUpdate 25%/25%, history limit 10, deadline
600 s).

All of it runs on the emulator's event loop through its internal write path (new resourceVersions, watch events,
generation bumps), triggered by :class:`~kpi_operator_devtools.kube_emulator.KubeEmulator`.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .kube_emulator import KubeEmulator, Res

REVISION = 'deployment.kubernetes.io/revision'
REVISION_HISTORY = 'deployment.kubernetes.io/revision-history'
DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas'
MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas'
POD_TEMPLATE_HASH = 'pod-template-hash'
# Never copied from a Deployment to its ReplicaSets (deployment_util.go, annotationsToSkip).
SKIPPED_ANNOTATIONS = frozenset({
    'kubectl.kubernetes.io/last-applied-configuration', REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
    MAX_REPLICAS, 'deprecated.deployment.rollback.to'})
MAX_REVISION_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1
_SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'  # k8s.io/apimachinery/pkg/util/rand


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


# --------------------------------------------------------------------------------------------------
# Pure parts: template equality and hash, the Deployment's spec with defaults, annotations, status.
# --------------------------------------------------------------------------------------------------

def _semantic(value: Any) -> Any:
    """Drop ``null``, ``{}`` and ``[]`` at every depth: what a Go client's typed round trip cannot tell apart.

    WHY: ``kubectl rollout undo`` decodes the ReplicaSet into Go structs and sends the template back with
    ``creationTimestamp: null`` and ``resources: {}`` added; the real controller compares typed objects, for which
    those are unset.
    """
    if isinstance(value, Mapping):
        out = {key: _semantic(item) for key, item in value.items()}
        return {key: item for key, item in out.items() if item not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(item) for item in value]
    return value


def template_without_hash(template: Mapping[str, Any] | None) -> dict[str, Any]:
    """The pod template in its semantic form, without the ``pod-template-hash`` label."""
    result = copy.deepcopy(dict(template or {}))
    labels = (result.get('metadata') or {}).get('labels')
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return _semantic(result)


def equal_ignore_hash(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """``EqualIgnoreHash``: two pod templates are equal but for the ``pod-template-hash`` label."""
    return template_without_hash(a) == template_without_hash(b)


def pod_template_hash(template: Mapping[str, Any] | None, collision_count: int | None = None) -> str:
    """``controller.ComputeHash``: FNV-32a of the template (and the collision count), ``SafeEncodeString``-ed."""
    data = json.dumps(template_without_hash(template), sort_keys=True, separators=(',', ':')).encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, 'little') + bytes(4)
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return ''.join(_SAFE_ALPHABET[ord(char) % len(_SAFE_ALPHABET)] for char in str(value))


def _scaled(value: Any, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int, or a percentage of ``total``."""
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith('%'):
        product = int(value[:-1]) * total
        return -(-product // 100) if round_up else product // 100
    return int(value)


@dataclasses.dataclass(frozen=True)
class DeploymentSpec:
    """What the controller reads from ``spec``, with the defaults the API server would have stored."""
    replicas: int
    paused: bool
    rolling: bool
    max_surge: int
    max_unavailable: int
    min_ready_seconds: int
    history_limit: int | None  # None: keep every old ReplicaSet
    progress_deadline: bool

    @classmethod
    def read(cls, deployment: Mapping[str, Any]) -> DeploymentSpec:
        spec = deployment.get('spec') or {}
        replicas = int(spec['replicas']) if spec.get('replicas') is not None else 1
        strategy = spec.get('strategy') or {}
        rolling = (strategy.get('type') or 'RollingUpdate') == 'RollingUpdate'
        surge = unavailable = 0
        if rolling:  # deployment_util.go, ResolveFenceposts
            params = strategy.get('rollingUpdate') or {}
            surge = _scaled(params.get('maxSurge', '25%'), replicas, True)
            unavailable = _scaled(params.get('maxUnavailable', '25%'), replicas, False)
            if surge == 0 and unavailable == 0:
                unavailable = 1
            unavailable = 0 if replicas == 0 else min(unavailable, replicas)
        limit = spec.get('revisionHistoryLimit', 10)
        deadline = spec.get('progressDeadlineSeconds', 600)
        return cls(replicas=replicas, paused=bool(spec.get('paused')), rolling=rolling, max_surge=surge,
                   max_unavailable=unavailable, min_ready_seconds=int(spec.get('minReadySeconds') or 0),
                   history_limit=None if limit is None or limit == MAX_INT32 else int(limit),
                   progress_deadline=deadline is not None and deadline != MAX_INT32)


def revision_of(obj: Mapping[str, Any]) -> int:
    """The ``deployment.kubernetes.io/revision`` number; 0 when missing or not a number (as ``MaxRevision``)."""
    try:
        return int(((obj.get('metadata') or {}).get('annotations') or {}).get(REVISION) or 0)
    except ValueError:
        return 0


def _replicas(rs: Mapping[str, Any]) -> int:
    value = (rs.get('spec') or {}).get('replicas')
    return 1 if value is None else int(value)


def _status_count(rs: Mapping[str, Any] | None, field: str) -> int:
    return int(((rs or {}).get('status') or {}).get(field) or 0)


def _by_creation(rs: Mapping[str, Any]) -> tuple[str, str]:
    meta = rs['metadata']
    return meta.get('creationTimestamp') or '', meta['name']


def set_new_replicaset_annotations(deployment: Mapping[str, Any], rs: dict[str, Any], new_revision: int,
                                   spec: DeploymentSpec, *, exists: bool) -> bool:
    """``SetNewReplicaSetAnnotations``: copy the Deployment's annotations, raise the revision, keep its history."""
    annotations = rs['metadata'].setdefault('annotations', {})
    changed = False
    for key, value in ((deployment.get('metadata') or {}).get('annotations') or {}).items():
        if key not in SKIPPED_ANNOTATIONS and annotations.get(key) != value:
            annotations[key] = value
            changed = True
    had = REVISION in annotations
    old_revision = annotations.get(REVISION, '')
    try:
        old_number = int(old_revision) if old_revision else 0
    except ValueError:
        return changed
    if old_number < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if had:  # a rollback to this ReplicaSet: remember the numbers it had
            history = annotations.get(REVISION_HISTORY, '')
            if not history:
                annotations[REVISION_HISTORY] = old_revision
            else:
                parts = history.split(',')
                total, start = len(history) + len(old_revision) + 1, 0
                while total > MAX_REVISION_HISTORY_CHARS and start < len(parts):
                    total -= len(parts[start]) + 1
                    start += 1
                if total <= MAX_REVISION_HISTORY_CHARS:
                    annotations[REVISION_HISTORY] = ','.join(parts[start:] + [old_revision])
    if not exists:
        changed = set_replicas_annotations(rs, spec) or changed
    return changed


def set_replicas_annotations(rs: dict[str, Any], spec: DeploymentSpec) -> bool:
    """``SetReplicasAnnotations``: the Deployment's replicas, and the most a rollout may run (with the surge)."""
    annotations = rs['metadata'].setdefault('annotations', {})
    wanted = {DESIRED_REPLICAS: str(spec.replicas), MAX_REPLICAS: str(spec.replicas + spec.max_surge)}
    if all(annotations.get(key) == value for key, value in wanted.items()):
        return False
    annotations.update(wanted)
    return True


def replicaset_status(rs: Mapping[str, Any]) -> dict[str, Any]:
    """The ReplicaSet controller's status when every pod is ready at once (``omitempty`` but ``replicas``)."""
    replicas = _replicas(rs)
    status: dict[str, Any] = {'replicas': replicas}
    if replicas:
        status.update(fullyLabeledReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas)
    generation = int((rs.get('metadata') or {}).get('generation') or 0)
    if generation:
        status['observedGeneration'] = generation
    for condition in ((rs.get('status') or {}).get('conditions') or []):
        status.setdefault('conditions', []).append(condition)
    return status


def set_condition(status: dict[str, Any], type_: str, value: str, reason: str, message: str) -> None:
    """``SetDeploymentCondition``: nothing changes if status and reason are the same; a transition keeps its time
    while the status stays."""
    conditions = status.get('conditions') or []
    current = next((c for c in conditions if c.get('type') == type_), None)
    if current is not None and current.get('status') == value and current.get('reason') == reason:
        return
    now = _now()
    transition = current['lastTransitionTime'] if current is not None and current.get('status') == value else now
    status['conditions'] = [c for c in conditions if c.get('type') != type_] + [{
        'type': type_, 'status': value, 'lastUpdateTime': now, 'lastTransitionTime': transition,
        'reason': reason, 'message': message}]


def remove_condition(status: dict[str, Any], type_: str) -> None:
    conditions = [c for c in status.get('conditions') or [] if c.get('type') != type_]
    if conditions:
        status['conditions'] = conditions
    else:
        status.pop('conditions', None)


def calculate_status(deployment: Mapping[str, Any], spec: DeploymentSpec, all_rs: Sequence[Mapping[str, Any]],
                     new_rs: Mapping[str, Any] | None, previous: Mapping[str, Any]) -> dict[str, Any]:
    """``calculateStatus``: counts from the ReplicaSets' statuses, and the ``Available`` condition."""
    available = sum(_status_count(rs, 'availableReplicas') for rs in all_rs)
    total = sum(_replicas(rs) for rs in all_rs)
    counts = {
        'observedGeneration': int(deployment['metadata'].get('generation') or 0),
        'replicas': sum(_status_count(rs, 'replicas') for rs in all_rs),
        'updatedReplicas': _status_count(new_rs, 'replicas'),
        'readyReplicas': sum(_status_count(rs, 'readyReplicas') for rs in all_rs),
        'availableReplicas': available,
        'unavailableReplicas': max(0, total - available),
    }
    status: dict[str, Any] = {key: value for key, value in counts.items() if value}  # omitempty
    if previous.get('conditions'):
        status['conditions'] = copy.deepcopy(previous['conditions'])
    if previous.get('collisionCount') is not None:
        status['collisionCount'] = previous['collisionCount']
    if available >= spec.replicas - spec.max_unavailable:
        set_condition(status, 'Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
    else:
        set_condition(status, 'Available', 'False', 'MinimumReplicasUnavailable',
                      'Deployment does not have minimum availability.')
    return status


def deployment_complete(spec: DeploymentSpec, status: Mapping[str, Any], generation: int) -> bool:
    return (int(status.get('updatedReplicas') or 0) == spec.replicas
            and int(status.get('replicas') or 0) == spec.replicas
            and int(status.get('availableReplicas') or 0) == spec.replicas
            and int(status.get('observedGeneration') or 0) >= generation)


# --------------------------------------------------------------------------------------------------
# The controller: one sync of one Deployment, through the emulator's internal write path.
# --------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class DeploymentController:
    """The Deployment controller and the ReplicaSet controller's status, acting on one :class:`KubeEmulator`.

    The emulator calls :meth:`sync_deployment` and :meth:`sync_replicaset` after writes to Deployments and
    ReplicaSets (its own informers); the writes made here do not trigger syncs of their own.
    """
    emu: KubeEmulator

    @property
    def _deployments(self) -> Res:
        return self.emu._res('apps', 'v1', 'deployments')

    @property
    def _replicasets(self) -> Res:
        return self.emu._res('apps', 'v1', 'replicasets')

    def _get(self, res: Res, namespace: str, name: str) -> dict[str, Any] | None:
        body = self.emu._current(self.emu._key(res, namespace, name))
        return None if body is None else copy.deepcopy(body)

    def _update(self, res: Res, new: dict[str, Any]) -> dict[str, Any]:
        """Write ``new`` (spec, metadata and status at once, as a controller's update and status update)."""
        meta = new['metadata']
        key = self.emu._key(res, meta['namespace'], meta['name'])
        current = self.emu._current(key)
        assert current is not None
        self.emu._commit(res, key, current, new, None, dry_run=False, field_validation=None)
        result = self._get(res, meta['namespace'], meta['name'])
        assert result is not None
        return result

    def _owned(self, deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
        uid = deployment['metadata'].get('uid')
        return sorted((copy.deepcopy(rs) for rs in self.emu._select(self._replicasets, deployment['metadata']['namespace'])
                       if any(ref.get('uid') == uid and ref.get('controller') is True
                              for ref in rs['metadata'].get('ownerReferences') or [])), key=_by_creation)

    # ---- the ReplicaSet controller ----------------------------------------------------------------

    def sync_replicaset(self, namespace: str, name: str) -> dict[str, Any] | None:
        """Set a ReplicaSet's status as if all its pods were running and ready; return it (``None``: gone)."""
        rs = self._get(self._replicasets, namespace, name)
        if rs is None or rs['metadata'].get('deletionTimestamp'):
            return rs
        status = replicaset_status(rs)
        if rs.get('status') == status:
            return rs
        rs['status'] = status
        return self._update(self._replicasets, rs)

    # ---- the Deployment controller ----------------------------------------------------------------

    def sync_deployment(self, namespace: str, name: str) -> None:
        """``syncDeployment``: roll out (or, paused, only scale), clean up, and write the status."""
        deployment = self._get(self._deployments, namespace, name)
        if deployment is None or deployment['metadata'].get('deletionTimestamp'):
            return
        spec = DeploymentSpec.read(deployment)
        status = copy.deepcopy(deployment.get('status') or {})
        selector = (deployment.get('spec') or {}).get('selector') or {}
        if not selector.get('matchLabels') and not selector.get('matchExpressions'):
            # An empty selector would select every pod: the real controller only observes the generation.
            status['observedGeneration'] = int(deployment['metadata'].get('generation') or 0)
            self._write_deployment(deployment, None, status)
            return
        if spec.progress_deadline:  # checkPausedConditions
            progressing = next((c for c in status.get('conditions') or [] if c.get('type') == 'Progressing'), None)
            was_paused = progressing is not None and progressing.get('reason') == 'DeploymentPaused'
            if spec.paused and not was_paused and not (progressing or {}).get('reason') == 'ProgressDeadlineExceeded':
                set_condition(status, 'Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused')
            elif not spec.paused and was_paused:
                set_condition(status, 'Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed')

        owned = self._owned(deployment)
        new_rs = next((rs for rs in owned if equal_ignore_hash(rs['spec'].get('template'),
                                                               deployment['spec'].get('template'))), None)
        old = [rs for rs in owned if new_rs is None or rs['metadata']['name'] != new_rs['metadata']['name']]
        new_revision = max((revision_of(rs) for rs in old), default=0) + 1
        revision: str | None = None
        rolled = False  # whether this sync rolled something out (made or scaled ReplicaSets)
        if new_rs is not None:  # getNewReplicaSet, existing: annotations (the renumbering), minReadySeconds
            changed = set_new_replicaset_annotations(deployment, new_rs, new_revision, spec, exists=True)
            if int(new_rs['spec'].get('minReadySeconds') or 0) != spec.min_ready_seconds:
                self._set_min_ready(new_rs, spec)
                changed = True
            if changed:
                new_rs = self._update(self._replicasets, new_rs)
            revision = (new_rs['metadata'].get('annotations') or {}).get(REVISION)
        elif not spec.paused:
            new_rs = self._create_replicaset(deployment, spec, new_revision, status)
            revision = str(new_revision)
            rolled = True

        if spec.paused:
            self._scale_paused(spec, new_rs, old)
        else:  # the rollout, completed at once: pods are ready as soon as they are asked for
            assert new_rs is not None
            if _replicas(new_rs) != spec.replicas:
                new_rs = self._scale(new_rs, spec.replicas, spec)
                rolled = True
            for index, rs in enumerate(old):
                if _replicas(rs) != 0:
                    old[index] = self._scale(rs, 0, spec)
                    rolled = True

        # The ReplicaSet controller: statuses follow at once.
        if new_rs is not None:
            new_rs = self.sync_replicaset(namespace, new_rs['metadata']['name']) or new_rs
        old = [self.sync_replicaset(namespace, rs['metadata']['name']) or rs for rs in old]
        old = self._clean_up(spec, old)
        all_rs = old + ([new_rs] if new_rs is not None else [])

        generation = int(deployment['metadata'].get('generation') or 0)
        status = calculate_status(deployment, spec, all_rs, new_rs, status)
        if not spec.paused:  # syncRolloutStatus
            if not spec.progress_deadline:
                remove_condition(status, 'Progressing')
            else:
                if rolled and new_rs is not None:  # what the syncs in the middle of a rollout would have recorded
                    set_condition(status, 'Progressing', 'True', 'ReplicaSetUpdated',
                                  f'ReplicaSet "{new_rs["metadata"]["name"]}" is progressing.')
                current = next((c for c in status.get('conditions') or [] if c.get('type') == 'Progressing'), None)
                done = (int(status.get('replicas') or 0) == int(status.get('updatedReplicas') or 0)
                        and current is not None and current.get('reason') == 'NewReplicaSetAvailable')
                if not done and deployment_complete(spec, status, generation):
                    message = (f'ReplicaSet "{new_rs["metadata"]["name"]}" has successfully progressed.' if new_rs
                               else f'Deployment "{name}" has successfully progressed.')
                    set_condition(status, 'Progressing', 'True', 'NewReplicaSetAvailable', message)
        self._write_deployment(deployment, revision, status)

    def _write_deployment(self, deployment: dict[str, Any], revision: str | None, status: dict[str, Any]) -> None:
        current = self._get(self._deployments, deployment['metadata']['namespace'], deployment['metadata']['name'])
        if current is None:  # pragma: no cover  # deleted by one of the writes above (it cannot be, today)
            return
        if revision is not None:
            current['metadata'].setdefault('annotations', {})[REVISION] = revision
        current['status'] = status
        self._update(self._deployments, current)

    def _set_min_ready(self, rs: dict[str, Any], spec: DeploymentSpec) -> None:
        if spec.min_ready_seconds:
            rs['spec']['minReadySeconds'] = spec.min_ready_seconds
        else:
            rs['spec'].pop('minReadySeconds', None)

    def _create_replicaset(self, deployment: Mapping[str, Any], spec: DeploymentSpec, revision: int,
                           status: dict[str, Any]) -> dict[str, Any]:
        """``getNewReplicaSet``, creating: ``<deployment>-<hash>``, owned, selecting its own pods only."""
        meta = deployment['metadata']
        namespace = meta['namespace']
        collisions = status.get('collisionCount')
        while True:
            template_hash = pod_template_hash(deployment['spec'].get('template'), collisions)
            name = f'{meta["name"]}-{template_hash}'
            taken = self._get(self._replicasets, namespace, name)
            if taken is None:
                break
            collisions = (collisions or 0) + 1  # a hash collision: another template has that name
            status['collisionCount'] = collisions
        template = copy.deepcopy(deployment['spec'].get('template') or {})
        labels = {**((template.get('metadata') or {}).get('labels') or {}), POD_TEMPLATE_HASH: template_hash}
        template.setdefault('metadata', {})['labels'] = labels
        selector = copy.deepcopy(deployment['spec'].get('selector') or {})
        selector['matchLabels'] = {**(selector.get('matchLabels') or {}), POD_TEMPLATE_HASH: template_hash}
        rs: dict[str, Any] = {
            'apiVersion': 'apps/v1', 'kind': 'ReplicaSet',
            'metadata': {
                'name': name, 'namespace': namespace, 'labels': dict(labels),
                'ownerReferences': [{'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': meta['name'],
                                     'uid': meta['uid'], 'controller': True, 'blockOwnerDeletion': True}],
            },
            'spec': {'replicas': spec.replicas, 'selector': selector, 'template': template},
        }
        self._set_min_ready(rs, spec)
        set_new_replicaset_annotations(deployment, rs, revision, spec, exists=False)
        self.emu._create(self._replicasets, namespace, rs)
        created = self._get(self._replicasets, namespace, name)
        assert created is not None
        return created

    def _scale(self, rs: dict[str, Any], replicas: int, spec: DeploymentSpec) -> dict[str, Any]:
        """``scaleReplicaSet``: the size and the replicas annotations, in one update."""
        rs['spec']['replicas'] = replicas
        set_replicas_annotations(rs, spec)
        return self._update(self._replicasets, rs)

    def _scale_paused(self, spec: DeploymentSpec, new_rs: dict[str, Any] | None, old: list[dict[str, Any]]) -> None:
        """``scale`` with ``FindActiveOrLatest``: one active ReplicaSet (or, none active, the newest) gets the
        Deployment's replicas; with several active, the real controller scales proportionally: not emulated."""
        newest_first = sorted(old, key=_by_creation, reverse=True)
        candidates = newest_first + ([new_rs] if new_rs is not None else [])
        active = [rs for rs in candidates if _replicas(rs) > 0]
        target = active[0] if len(active) == 1 else None
        if not active:
            target = new_rs if new_rs is not None else (newest_first[0] if newest_first else None)
        if target is not None and _replicas(target) != spec.replicas:
            self._scale(target, spec.replicas, spec)

    def _clean_up(self, spec: DeploymentSpec, old: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``cleanupDeployment``: delete old ReplicaSets beyond the history limit, lowest revision first, if idle."""
        alive = [rs for rs in old if not rs['metadata'].get('deletionTimestamp')]
        if spec.history_limit is None or len(alive) <= spec.history_limit:
            return old
        doomed = set()
        for rs in sorted(alive, key=lambda rs: (revision_of(rs), _by_creation(rs)))[:len(alive) - spec.history_limit]:
            generation = int(rs['metadata'].get('generation') or 0)
            if (_status_count(rs, 'replicas') != 0 or _replicas(rs) != 0
                    or generation > _status_count(rs, 'observedGeneration')):
                continue
            meta = rs['metadata']
            self.emu._delete(self._replicasets, meta['namespace'], meta['name'])
            doomed.add(meta['name'])
        return [rs for rs in old if rs['metadata']['name'] not in doomed]
