"""
A stateful, schema-enforcing Kubernetes API for the end-to-end tests, built on kmock 0.8.

WHY this exists: the machines that run this project's tests have no API server (see
``TESTING.md``, "The Kubernetes API, emulated"). kmock 0.8 (by kopf's author) serves a Kubernetes-
shaped API over real HTTP, with discovery and an in-memory object store, but its stateful emulator
has gaps that change how kopf behaves against it. :class:`KubeEmulator` subclasses kmock's
``KubernetesEmulator`` and keeps what works (the HTTP server, API discovery, the request log and the
reaction DSL for fault injection, the ``objects`` store with per-object history), and replaces the
object-serving logic to close these gaps:

* ``resourceVersion`` (one global counter, as etcd's revision), ``uid``, ``creationTimestamp`` and
  ``generation`` (bumped only when something other than metadata -- and status, if the resource
  has a status subresource -- changes). kmock sets none of them, and kopf relies on all of them.
* Watches that start from a given ``resourceVersion`` and send only later changes; kmock replays
  every object on every watch, so kopf's handlers run several times.
* ``201`` on create (generated clients return ``None`` on kmock's ``200``), ``PUT``, ``404`` on
  missing objects and resources, ``409`` on a stale ``resourceVersion`` (PUT, merge-patch,
  delete preconditions), ``422`` on a failed JSON-patch ``test`` (kmock answers 500, so kopf's
  finalizer patch fails and no handler runs).
* ``/status`` subresource separation: writes to the object never change ``status``, writes to
  ``/status`` never change anything else (for every resource that declares a status subresource:
  ``kpis``, ``slos``, ``deployments``, ``replicasets``, ...). kmock lets ``/status`` change spec.
* Equality label selectors (also ``!=``, ``in``, ``notin``, ``key``, ``!key``) and simple field
  selectors on list and watch; kmock ignores selectors.
* ``?watch=true`` and ``?watch=True`` (what kubernetes_asyncio sends); kmock only knows the first.
* Merge-patch, JSON-patch and strategic-merge-patch (treated as merge-patch: lists are replaced,
  ``$patch`` directives are dropped) on objects and on ``/status``.
* DELETE as the API server does it: objects with finalizers get ``deletionTimestamp`` (and a
  generation bump) and stay until the finalizers are emptied; no new finalizers may be added then.
* Namespaces: kmock's path parser crashes on ``/api/v1/namespaces``; here namespaces are objects.
  A namespace is created on first use (``auto_namespaces``); deleting one deletes its content.
* Garbage collection (simple, ``garbage_collection=True``): when an object is removed, objects
  whose ``ownerReferences`` point at its uid, and at no other living owner, are deleted at once
  (as background propagation; ``propagationPolicy=Orphan`` is honoured; ``Foreground`` is treated
  as background). Dependents with finalizers are only marked for deletion, as usual.
* CRD schema enforcement: for every CRD given to the constructor (or created through the API),
  create / update / patch of its resources (also ``/status``) applies schema defaults, refuses or
  prunes unknown fields (structural schemas), validates against ``openAPIV3Schema`` with
  jsonschema, and answers ``422`` with a Kubernetes ``Status`` naming the field path, as
  ``kubectl apply`` would show it. ``x-kubernetes-validations`` (CEL) rules are NOT enforced, and
  ``format`` keywords are not checked.
* Events: ``POST /api/v1/namespaces/{ns}/events`` (and ``events.k8s.io/v1``) are stored, listable
  and watchable like any object; :meth:`KubeEmulator.events` reads them for assertions.
* Discovery: kmock's bundled builtins (core v1, apps/v1, apiextensions.k8s.io, coordination.k8s.io,
  events.k8s.io, ...) plus ``kpi.dev/v1alpha1`` (kpis, slos; status subresource),
  ``monitoring.coreos.com/v1`` (prometheusrules) and kopf's peering resources (``kopf.dev/v1``),
  all with every verb. kmock's "/v1" groupVersion of the core group is corrected, and resources of
  stored objects are no longer "discovered" after their CRD is deleted.
* Minimal OpenAPI v3 documents (paths and the ``fieldValidation`` parameter, no schemas): without
  them ``kubectl apply`` refuses to work ("failed to download openapi"); with them it validates
  server-side, so an invalid manifest fails here as it would on a cluster.
* The Deployment controller, opt-in (``deployment_controller=True``; see ``deployment_controller.py``):
  after each write to a Deployment (or to a ReplicaSet it owns) it does what kube-controller-manager's
  would: a ReplicaSet ``<name>-<pod-template-hash>`` per new template, owned by the Deployment, with
  ``deployment.kubernetes.io/revision`` = the highest other revision + 1; a template equal to an older
  ReplicaSet's (the hash label aside) reuses that ReplicaSet under the next number (the renumbering
  ``kubectl rollout undo`` shows, with ``revision-history`` and the Deployment's annotations such as
  ``kubernetes.io/change-cause`` copied to it); the Deployment's revision annotation; no rollout while
  ``spec.paused`` (scaling still applies); old ReplicaSets beyond ``revisionHistoryLimit`` deleted;
  ReplicaSet and Deployment status (``observedGeneration``, replica counts, ``Available`` and
  ``Progressing`` conditions) as ``kubectl rollout status`` reads them. Its writes are ordinary writes
  (resourceVersions, watch events). It runs before the triggering request's response is sent, or
  ``deployment_controller_delay`` seconds later (writes in between are synced together, as by a work
  queue), so that ``observedGeneration < generation`` can be seen; :meth:`KubeEmulator.run_controllers`
  ends such a lag at once. What it does not reproduce: pods (all are ready at once, so every rollout
  completes in one step, without the surge in between), progress deadlines, adoption of ReplicaSets by
  label selector, proportional scaling, and the API's defaulting of Deployment fields (the controller
  reads missing ones with their defaults); template hashes follow the real scheme (FNV-32a,
  ``SafeEncodeString``) but not its input bytes, so names differ from a cluster's.

What it still does not emulate: server-side apply (415), real strategic merge (list merge keys:
a patch with a partial ``containers`` list replaces the whole list), protobuf bodies (415; so
kubectl's imperative ``create deployment`` fails, ``kubectl apply -f`` works), the ``/scale``
subresource, admission webhooks, RBAC and authentication (any token is accepted), CEL validation
rules, ``format`` checks, schema validation of resources without a CRD (builtins, and
PrometheusRule unless its CRD is given), controllers other than the opt-in Deployment controller
(no pods, no status updates on their own), foreground deletion ordering, graceful pod
termination, periodic watch bookmarks, and version conversion beyond rewriting ``apiVersion``.

Unknown fields: the API server prunes them silently by default (``fieldValidation=Warn``) and
refuses them with ``fieldValidation=Strict`` (what kubectl sends). Here the default for writes to
the main resource is ``Strict`` (constructor: ``field_validation``), so an invalid manifest fails
whichever client sends it; for ``/status`` writes the default is ``Warn`` (prune and add a
``Warning`` header), as controllers like kopf experience it. An explicit ``?fieldValidation=``
in the request wins. NB: in strict mode the real API server answers ``400 BadRequest``
("strict decoding error"); this emulator answers ``422 Invalid`` naming the field, by design.

It touches kmock internals (``kmock._internal``): kmock is pinned to 0.8 for that reason.

Usage in a test (in-process)::

    async with KubeEmulator(crds=load_crds('crds')) as emu:
        emu.create({'apiVersion': 'kpi.dev/v1alpha1', 'kind': 'SLO', ...})
        url = emu.server_url            # http://127.0.0.1:PORT, for kopf or kubernetes_asyncio
        assert emu.get('slos', 'default', 'x')['metadata']['generation'] == 1

In a separate process (prints ``READY http://127.0.0.1:PORT`` on stdout, serves until killed)::

    python -m kpi_operator_devtools.kube_emulator --port 0 --crds crds/ --kubeconfig-out kubeconfig

All state-reading helpers (:meth:`~KubeEmulator.create`, :meth:`~KubeEmulator.get`, ...) are
synchronous and must be called from the thread that runs the emulator's event loop.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import builtins
import copy
import dataclasses
import datetime
import gzip
import importlib.resources
import json
import logging
import pathlib
import random
import re
import signal
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import aiohttp.web
import attrs
import jsonschema
import kmock
import yaml
from kmock._internal import apps, enums, references, rendering  # pinned: kmock==0.8

from .deployment_controller import DeploymentController

logger = logging.getLogger(__name__)

ALL_VERBS = frozenset({'create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'})

# Resources of this project, declared on top of kmock's bundled builtins (core v1, apps/v1,
# apiextensions.k8s.io, coordination.k8s.io, events.k8s.io, ...). kopf ignores resources whose
# discovery lacks list/watch/patch; CRDs given to the constructor override these declarations.
PROJECT_RESOURCES: dict[str, dict[str, Any]] = {
    'kpi.dev/v1alpha1/kpis': dict(
        kind='KPI', singular='kpi', namespaced=True, subresources={'status'}, categories={'kpi'}),
    'kpi.dev/v1alpha1/slos': dict(
        kind='SLO', singular='slo', namespaced=True, subresources={'status'}, categories={'kpi'}),
    'monitoring.coreos.com/v1/prometheusrules': dict(
        kind='PrometheusRule', singular='prometheusrule', namespaced=True, shortnames={'promrule'}),
    # kopf's peering resources: with them declared, kopf's peering can be on or off.
    'kopf.dev/v1/clusterkopfpeerings': dict(
        kind='ClusterKopfPeering', singular='clusterkopfpeering', namespaced=False),
    'kopf.dev/v1/kopfpeerings': dict(
        kind='KopfPeering', singular='kopfpeering', namespaced=True),
}

DEFAULT_NAMESPACES = ('default', 'kube-system', 'kube-public', 'kube-node-lease')

# Metadata fields owned by the server: clients cannot set or change them.
_SYSTEM_METADATA = ('uid', 'resourceVersion', 'generation', 'creationTimestamp',
                    'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink', 'managedFields')

# Metadata fields that Kubernetes omits when empty (kopf expects that, see its KNOWN_INCONSISTENCIES).
_OMIT_EMPTY_METADATA = ('finalizers', 'labels', 'annotations', 'ownerReferences')

_NAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
_GENERATE_NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'  # as the API server's utilrand


# --------------------------------------------------------------------------------------------------
# Errors rendered as Kubernetes `Status` bodies.
# --------------------------------------------------------------------------------------------------

class ApiError(Exception):
    """
    An API error with the HTTP code and the ``Status`` body the API server would send.

    Raised by the synchronous helpers (e.g. :meth:`KubeEmulator.create` of an invalid body) and
    rendered as the HTTP response for requests. kmock's own errors are rendered with tracebacks and
    recorded as server failures; these are expected answers, hence a class of their own.
    """

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(f'{code} {reason}: {message}')
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    @property
    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            'kind': 'Status', 'apiVersion': 'v1', 'metadata': {},
            'status': 'Failure', 'message': self.message, 'reason': self.reason, 'code': self.code,
        }
        if self.details:
            body['details'] = self.details
        return body

    @property
    def causes(self) -> list[dict[str, str]]:
        return list(self.details.get('causes', []))


# --------------------------------------------------------------------------------------------------
# Resource descriptions, resolved from kmock's discovery registry (`kmock.resources`).
# --------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Res:
    """One served resource at one API version, as the discovery documents declare it."""
    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    shortnames: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        return f'{self.group}/{self.version}' if self.group else self.version

    @property
    def has_status(self) -> bool:
        return 'status' in self.subresources

    @property
    def qualified_plural(self) -> str:  # e.g. slos.kpi.dev, pods
        return f'{self.plural}.{self.group}' if self.group else self.plural

    @property
    def qualified_kind(self) -> str:  # e.g. SLO.kpi.dev, Pod
        return f'{self.kind}.{self.group}' if self.group else self.kind

    @property
    def is_crd(self) -> bool:
        return self.group == 'apiextensions.k8s.io' and self.plural == 'customresourcedefinitions'

    @property
    def is_namespace(self) -> bool:
        return self.group == '' and self.plural == 'namespaces'


@dataclasses.dataclass(frozen=True)
class _Change:
    """One entry of the change log that watches are served from (ordered by resourceVersion)."""
    rv: int
    group: str
    plural: str
    namespace: str | None
    type: str  # ADDED, MODIFIED, DELETED
    body: dict[str, Any]
    old: dict[str, Any] | None


class _ServeStatefully(Exception):
    """Raised by the fallback reaction to hand a request from kmock's DSL to the emulator."""


# --------------------------------------------------------------------------------------------------
# CRD schemas: defaulting, unknown fields (structural pruning) and jsonschema validation.
# --------------------------------------------------------------------------------------------------

_ANNOTATION_KEYWORDS = {'nullable', 'default', 'example', 'externalDocs', 'description', 'title'}


def _to_jsonschema(node: Any) -> Any:
    """Convert an OpenAPI v3 (Kubernetes structural) schema into a JSON schema for Draft 4."""
    if isinstance(node, builtins.list):
        return [_to_jsonschema(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, val in node.items():
        if key.startswith('x-kubernetes-') or key in _ANNOTATION_KEYWORDS:
            continue  # annotations for the API server, not validation keywords for jsonschema
        elif key in ('properties', 'patternProperties', 'definitions'):
            out[key] = {name: _to_jsonschema(sub) for name, sub in val.items()}
        elif key in ('items', 'additionalProperties', 'not', 'allOf', 'anyOf', 'oneOf'):
            out[key] = _to_jsonschema(val)
        else:
            out[key] = val
    if node.get('x-kubernetes-int-or-string') and 'type' not in out:
        out['type'] = ['integer', 'string']
    if node.get('nullable') and 'type' in out:
        types = out['type'] if isinstance(out['type'], builtins.list) else [out['type']]
        out['type'] = types + ['null']
        if 'enum' in out and None not in out['enum']:
            out['enum'] = builtins.list(out['enum']) + [None]
    return out


@dataclasses.dataclass
class _Schema:
    """A compiled CRD version schema: the raw structural schema and its validator."""
    structural: dict[str, Any]
    validator: jsonschema.Draft4Validator

    @classmethod
    def compile(cls, schema: Mapping[str, Any]) -> _Schema:
        structural = copy.deepcopy(dict(schema))
        converted = _to_jsonschema(structural)
        converted.get('properties', {}).pop('metadata', None)  # metadata is validated by the server
        return cls(structural=structural, validator=jsonschema.Draft4Validator(converted))


def _fmt_path(parts: Iterable[Any]) -> str:
    text = ''
    for part in parts:
        text += f'[{part}]' if isinstance(part, int) else (f'.{part}' if text else str(part))
    return text


def _json_type(value: Any) -> str:
    match value:
        case None: return 'null'
        case bool(): return 'boolean'
        case int(): return 'integer'
        case float(): return 'number'
        case str(): return 'string'
        case builtins.list(): return 'array'
        case _: return 'object'


def _structural_walk(schema: Any, value: Any, path: builtins.list[Any],
                     unknown: builtins.list[str], prune: bool) -> Any:
    """
    Apply schema defaults, drop non-nullable nulls, and find (and maybe prune) unknown fields.

    WHY: the API server does all three for structural schemas before validation; jsonschema
    does none of them (it only validates). Returns the possibly modified value.
    """
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, dict):
        props = schema.get('properties')
        addl = schema.get('additionalProperties')
        preserve = schema.get('x-kubernetes-preserve-unknown-fields') is True
        embedded = schema.get('x-kubernetes-embedded-resource') is True
        if isinstance(props, Mapping):
            for name, sub in props.items():
                if name not in value and isinstance(sub, Mapping) and 'default' in sub:
                    value[name] = copy.deepcopy(sub['default'])
        for key in builtins.list(value):
            sub: Any
            if isinstance(props, Mapping) and key in props:
                sub = props[key]
            elif isinstance(addl, Mapping):
                sub = addl
            elif addl is True or preserve or (embedded and key in ('apiVersion', 'kind', 'metadata')):
                continue
            else:
                unknown.append(_fmt_path(path + [key]))
                if prune:
                    del value[key]
                continue
            if value[key] is None and not (isinstance(sub, Mapping) and sub.get('nullable')):
                del value[key]
                continue
            value[key] = _structural_walk(sub, value[key], path + [key], unknown, prune)
    elif isinstance(value, builtins.list) and isinstance(schema.get('items'), Mapping):
        for idx, item in enumerate(value):
            value[idx] = _structural_walk(schema['items'], item, path + [idx], unknown, prune)
    return value


def _schema_causes(error: jsonschema.ValidationError) -> builtins.list[dict[str, str]]:
    """Translate one jsonschema error into Kubernetes-style causes (field, reason, message)."""
    path = builtins.list(error.absolute_path)
    field = _fmt_path(path)
    value = error.instance
    shown = json.dumps(value) if not isinstance(value, (dict, builtins.list)) else _json_type(value)
    match error.validator:
        case 'required':
            missing = [name for name in error.validator_value
                       if isinstance(value, dict) and name not in value]
            return [{'reason': 'FieldValueRequired', 'field': _fmt_path(path + [name]),
                     'message': 'Required value'} for name in missing]
        case 'type':
            expected = error.validator_value
            expected = expected if isinstance(expected, str) else '/'.join(expected)
            actual = _json_type(value)
            return [{'reason': 'FieldValueTypeInvalid', 'field': field,
                     'message': f'Invalid value: "{actual}": {field} in body must be of type {expected}: "{actual}"'}]
        case 'enum':
            supported = ', '.join(json.dumps(v) for v in error.validator_value)
            return [{'reason': 'FieldValueNotSupported', 'field': field,
                     'message': f'Unsupported value: {shown}: supported values: {supported}'}]
        case 'minimum' | 'maximum':
            exclusive = error.schema.get(f'exclusive{error.validator.capitalize()}') is True
            relation = ('greater than' if error.validator == 'minimum' else 'less than') + ('' if exclusive else ' or equal to')
            text = f'should be {relation} {error.validator_value}'
        case 'minLength':
            text = f'should be at least {error.validator_value} chars long'
        case 'maxLength':
            text = f'should be at most {error.validator_value} chars long'
        case 'pattern':
            text = f"should match '{error.validator_value}'"
        case 'minItems':
            text = f'should have at least {error.validator_value} items'
        case 'maxItems':
            text = f'should have at most {error.validator_value} items'
        case 'additionalProperties':
            return [{'reason': 'FieldValueInvalid', 'field': field, 'message': f'Invalid value: {shown}: {error.message}'}]
        case _:
            text = error.message
    return [{'reason': 'FieldValueInvalid', 'field': field,
             'message': f'Invalid value: {shown}: {field} in body {text}'}]


# --------------------------------------------------------------------------------------------------
# Patches: RFC 7386 merge-patch, RFC 6902 JSON-patch, label and field selectors.
# --------------------------------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, val in patch.items():
        if val is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), val)
    return result


def _strip_strategic_directives(patch: Any) -> Any:
    if isinstance(patch, Mapping):
        return {k: _strip_strategic_directives(v) for k, v in patch.items() if not k.startswith('$')}
    if isinstance(patch, builtins.list):
        return [_strip_strategic_directives(v) for v in patch]
    return patch


class _JSONPatchError(Exception):
    pass


def _pointer(path: str) -> builtins.list[str]:
    if path == '':
        return []
    if not path.startswith('/'):
        raise _JSONPatchError(f'invalid JSON pointer: {path!r}')
    return [part.replace('~1', '/').replace('~0', '~') for part in path[1:].split('/')]


def _resolve_parent(doc: Any, parts: builtins.list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, builtins.list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _JSONPatchError(f'path not found: /{"/".join(parts)}')
    return node, parts[-1]


def _get_at(doc: Any, path: str) -> Any:
    node = doc
    for part in _pointer(path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, builtins.list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _JSONPatchError(f'path not found: {path}')
    return node


def json_patch(doc: Any, ops: Sequence[Mapping[str, Any]]) -> Any:
    """RFC 6902 on a copy of ``doc``; raises ``_JSONPatchError`` on failed tests and bad paths."""
    doc = copy.deepcopy(doc)

    def add(path: str, value: Any) -> Any:
        parts = _pointer(path)
        if not parts:
            return value
        parent, key = _resolve_parent(doc, parts)
        if isinstance(parent, dict):
            parent[key] = value
        elif isinstance(parent, builtins.list):
            if key == '-':
                parent.append(value)
            elif key.isdigit() and int(key) <= len(parent):
                parent.insert(int(key), value)
            else:
                raise _JSONPatchError(f'index out of range: {path}')
        else:
            raise _JSONPatchError(f'cannot add to a scalar: {path}')
        return doc

    def remove(path: str) -> Any:
        parts = _pointer(path)
        if not parts:
            raise _JSONPatchError('cannot remove the whole document')
        parent, key = _resolve_parent(doc, parts)
        if isinstance(parent, dict) and key in parent:
            return parent.pop(key)
        if isinstance(parent, builtins.list) and key.isdigit() and int(key) < len(parent):
            return parent.pop(int(key))
        raise _JSONPatchError(f'path not found: {path}')

    for op in ops:
        if not isinstance(op, Mapping) or 'op' not in op or 'path' not in op:
            raise _JSONPatchError(f'invalid operation: {op!r}')
        kind, path = op['op'], op['path']
        if kind == 'test':
            if _get_at(doc, path) != op.get('value'):
                raise _JSONPatchError(f'test failed at {path}: the value is not {op.get("value")!r}')
        elif kind == 'add':
            doc = add(path, copy.deepcopy(op.get('value')))
        elif kind == 'remove':
            remove(path)
        elif kind == 'replace':
            _get_at(doc, path)  # must exist
            if _pointer(path):
                remove(path)
            doc = add(path, copy.deepcopy(op.get('value')))
        elif kind == 'move':
            value = remove(op['from'])
            doc = add(path, value)
        elif kind == 'copy':
            doc = add(path, copy.deepcopy(_get_at(doc, op['from'])))
        else:
            raise _JSONPatchError(f'unsupported operation: {kind!r}')
    return doc


def _split_top_level(text: str) -> builtins.list[str]:
    parts, depth, current = [], 0, ''
    for char in text:
        if char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
        if char == ',' and depth == 0:
            parts.append(current)
            current = ''
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


_LABEL_KEY = r'[A-Za-z0-9][-A-Za-z0-9_./]*'
_LABEL_EQ = re.compile(rf'^({_LABEL_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)$')
_LABEL_SET = re.compile(rf'^({_LABEL_KEY})\s+(in|notin)\s*\(([^)]*)\)$')
_LABEL_EXISTS = re.compile(rf'^(!?)\s*({_LABEL_KEY})$')


def parse_label_selector(selector: str | Mapping[str, str] | None) -> builtins.list[tuple[str, str, Any]]:
    """Parse ``a=b,c!=d,e in (f,g),!h`` into requirements; a dict means equality on each pair."""
    if not selector:
        return []
    if isinstance(selector, Mapping):
        return [(key, '=', str(val)) for key, val in selector.items()]
    reqs: builtins.list[tuple[str, str, Any]] = []
    for part in _split_top_level(selector):
        if m := _LABEL_SET.match(part):
            values = {v.strip() for v in m.group(3).split(',') if v.strip()}
            reqs.append((m.group(1), m.group(2), values))
        elif m := _LABEL_EQ.match(part):
            reqs.append((m.group(1), '!=' if m.group(2) == '!=' else '=', m.group(3)))
        elif m := _LABEL_EXISTS.match(part):
            reqs.append((m.group(2), '!' if m.group(1) else 'exists', None))
        else:
            raise ApiError(400, 'BadRequest', f'unable to parse requirement: {part!r} in labelSelector {selector!r}')
    return reqs


def _labels_match(labels: Mapping[str, str], reqs: Sequence[tuple[str, str, Any]]) -> bool:
    for key, op, val in reqs:
        match op:
            case '=' if labels.get(key) != val: return False
            case '!=' if labels.get(key) == val: return False
            case 'in' if labels.get(key) not in val: return False
            case 'notin' if key in labels and labels[key] in val: return False
            case 'exists' if key not in labels: return False
            case '!' if key in labels: return False
    return True


def parse_field_selector(selector: str | Mapping[str, str] | None) -> builtins.list[tuple[str, str, str]]:
    """Parse ``metadata.name=x,involvedObject.kind!=Pod`` into (path, op, value) requirements."""
    if not selector:
        return []
    if isinstance(selector, Mapping):
        return [(key, '=', str(val)) for key, val in selector.items()]
    reqs: builtins.list[tuple[str, str, str]] = []
    for part in _split_top_level(selector):
        m = re.match(r'^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$', part)
        if not m:
            raise ApiError(400, 'BadRequest', f'invalid field selector: {part!r}')
        reqs.append((m.group(1), '!=' if m.group(2) == '!=' else '=', m.group(3).strip()))
    return reqs


def _fields_match(body: Mapping[str, Any], reqs: Sequence[tuple[str, str, str]]) -> bool:
    for path, op, val in reqs:
        node: Any = body
        for part in path.split('.'):
            node = node.get(part) if isinstance(node, Mapping) else None
        actual = '' if node is None else (json.dumps(node) if isinstance(node, bool) else str(node))
        if (actual == val) != (op == '='):
            return False
    return True


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def load_crds(*paths: str | pathlib.Path) -> builtins.list[dict[str, Any]]:
    """Read the CustomResourceDefinitions from YAML/JSON files or directories (multi-document)."""
    crds: builtins.list[dict[str, Any]] = []
    for path in map(pathlib.Path, paths):
        files = sorted(p for ext in ('*.yaml', '*.yml', '*.json') for p in path.glob(ext)) if path.is_dir() else [path]
        for file in files:
            for doc in yaml.safe_load_all(file.read_text(encoding='utf-8')):
                if isinstance(doc, dict) and doc.get('kind') == 'CustomResourceDefinition':
                    crds.append(doc)
    return crds


# --------------------------------------------------------------------------------------------------
# The emulator.
# --------------------------------------------------------------------------------------------------

@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """
    kmock's ``KubernetesEmulator`` with the behaviours kopf needs (see the module docstring).

    ``async with KubeEmulator(crds=[...]) as emu:`` starts the HTTP server on ``listen_host``
    (127.0.0.1) and a free port (``listen_port=0``); ``emu.server_url`` is its address.

    kmock's DSL keeps working for fault injection, with priority over the emulation, e.g.
    ``emu['patch', kmock.resource('kpi.dev/v1alpha1/slos')][:1] << 500`` fails one patch
    (and, unlike plain kmock, an intercepted request changes no state).
    """

    crds: Sequence[Mapping[str, Any]] = attrs.field(factory=builtins.list)
    listen_host: str = '127.0.0.1'
    listen_port: int = 0
    field_validation: str = 'Strict'  # for writes to objects without ?fieldValidation=
    status_field_validation: str = 'Warn'  # for writes to /status without ?fieldValidation=
    garbage_collection: bool = True
    auto_namespaces: bool = True  # create a namespace on first use instead of answering 404
    initial_namespaces: Sequence[str] = DEFAULT_NAMESPACES
    history_limit: int = 100_000  # changes kept for watches; older resourceVersions get 410 Gone
    # kmock keeps every request it served and walks that whole log for each new one (O(n^2) over a run); a
    # long-lived emulator (a process of its own, the demo) keeps only the newest ones. None keeps all, for tests
    # that inspect the requests.
    request_log_limit: int | None = None
    # The Deployment controller (and ReplicaSet statuses), off by default: tests that make their own ReplicaSets
    # keep them as made. The delay is how long it takes to react to a write (0: before the write's response).
    deployment_controller: bool = False
    deployment_controller_delay: float = 0.0

    _rv: int = attrs.field(default=0, init=False)
    _log: builtins.list[_Change] = attrs.field(factory=builtins.list, init=False)
    _log_rvs: builtins.list[int] = attrs.field(factory=builtins.list, init=False)
    _log_floor: int = attrs.field(default=0, init=False)
    _wake: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _closing: bool = attrs.field(default=False, init=False)
    _schemas: dict[tuple[str, str, str], _Schema] = attrs.field(factory=dict, init=False)
    _storage_versions: dict[tuple[str, str], str] = attrs.field(factory=dict, init=False)
    _crd_resources: dict[str, builtins.list[str]] = attrs.field(factory=dict, init=False)
    _http: apps.Server | None = attrs.field(default=None, init=False)
    _controller: DeploymentController | None = attrs.field(default=None, init=False)
    _controller_queue: dict[tuple[str, str, str], None] = attrs.field(factory=dict, init=False)
    _controller_timers: dict[tuple[str, str, str], asyncio.TimerHandle] = attrs.field(factory=dict, init=False)
    _controller_busy: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        # Only the scaffold (discovery, 404 for unknown endpoints): kmock's own stateful fallbacks
        # are replaced by one fallback that hands every resource request to this class.
        kmock.KubernetesScaffold.__attrs_post_init__(self)
        self.fallback[self._is_resource_request] << self._serve_statefully
        self.fallback['get', re.compile(r'/openapi/v3/?')] << self._serve_openapi_root
        self.fallback['get', re.compile(r'/openapi/v3/.+')] << self._serve_openapi_group_version
        self._load_builtin_resources()
        for name in self.initial_namespaces:
            self._ensure_namespace(name)
        if self.deployment_controller:
            self._controller = DeploymentController(self)
        for crd in self.crds:
            self._create(self._res('apiextensions.k8s.io', 'v1', 'customresourcedefinitions'),
                         None, dict(crd), system=True)

    # ----------------------------------------------------------------------------------------------
    # Lifecycle & addresses.
    # ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> KubeEmulator:
        await super().__aenter__()
        self._closing = False
        self._http = apps.Server(self, host=self.listen_host, port=self.listen_port or None)
        await self._http.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        # End all watch streams first, or the HTTP server waits for them on shutdown.
        self._closing = True
        self._notify()
        for timer in self._controller_timers.values():
            timer.cancel()
        self._controller_timers.clear()
        try:
            if self._http is not None:
                await self._http.__aexit__(exc_type, exc_value, traceback)
        finally:
            self._http = None
            await super().__aexit__(exc_type, exc_value, traceback)

    @property
    def server_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server (no trailing slash)."""
        if self._http is None:
            raise RuntimeError('The emulator is not running: use it as `async with KubeEmulator() as emu`.')
        return f'http://{self._http.host}:{self._http.port}'

    def kubeconfig(self, *, namespace: str = 'default') -> dict[str, Any]:
        """A kubeconfig dict pointing at this server: plain http, a dummy token (never checked)."""
        return {
            'apiVersion': 'v1', 'kind': 'Config', 'preferences': {},
            'clusters': [{'name': 'kube-emulator',
                          'cluster': {'server': self.server_url, 'insecure-skip-tls-verify': True}}],
            'users': [{'name': 'kube-emulator', 'user': {'token': 'kube-emulator-dummy-token'}}],
            'contexts': [{'name': 'kube-emulator',
                          'context': {'cluster': 'kube-emulator', 'user': 'kube-emulator', 'namespace': namespace}}],
            'current-context': 'kube-emulator',
        }

    def write_kubeconfig(self, path: str | pathlib.Path, *, namespace: str = 'default') -> pathlib.Path:
        """Write :meth:`kubeconfig` to ``path`` (YAML) and return the path."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(namespace=namespace), sort_keys=False), encoding='utf-8')
        return path

    # ----------------------------------------------------------------------------------------------
    # Discovery registry.
    # ----------------------------------------------------------------------------------------------

    def _load_builtin_resources(self) -> None:
        # kmock's load_bundled() uses a deprecated importlib API (a warning in every test run).
        blob = importlib.resources.files('kmock._internal').joinpath('resources.json.gz').read_bytes()
        self.resources.load_data(gzip.decompress(blob))
        for key, info in PROJECT_RESOURCES.items():
            self.resources[key] = references.ResourceInfo(verbs=ALL_VERBS, **info)

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        # kmock renders the core group's groupVersion as "/v1" (the API server says "v1"), and
        # copies short names & categories to subresources (kubectl then warns on every `get`).
        result = await super()._serve_version(request)
        if isinstance(result, dict):
            if str(result.get('groupVersion', '')).startswith('/'):
                result['groupVersion'] = result['groupVersion'][1:]
            for entry in result.get('resources', []):
                if '/' in entry.get('name', ''):
                    entry.update(shortNames=[], categories=[], singularName='', verbs=['get', 'patch', 'update'])
        return result

    # kubectl (1.27+) validates manifests server-side (fieldValidation=Strict) if the OpenAPI v3
    # documents say that PATCH accepts `fieldValidation`; otherwise it wants the OpenAPI v2 schemas
    # for client-side validation and fails with "failed to download openapi". These minimal
    # documents (paths and that parameter, no schemas) are what kubectl needs to apply manifests.
    async def _serve_openapi_root(self, request: rendering.Request) -> dict[str, Any]:
        gvs = {(res.group, res.version) for res in self._all_res()}
        return {'paths': {
            (f'apis/{g}/{v}' if g else f'api/{v}'): {'serverRelativeURL': f'/openapi/v3/{"apis/" + g if g else "api"}/{v}'}
            for g, v in sorted(gvs)}}

    async def _serve_openapi_group_version(self, request: rendering.Request) -> dict[str, Any]:
        parts = request.url.path.strip('/').split('/')[2:]  # after openapi/v3
        if len(parts) == 2 and parts[0] == 'api':
            group, version = '', parts[1]
        elif len(parts) == 3 and parts[0] == 'apis':
            group, version = parts[1], parts[2]
        else:
            raise kmock.KubernetesNotFoundError()
        prefix = f'/apis/{group}/{version}' if group else f'/api/{version}'
        paths: dict[str, Any] = {}
        for res in self._all_res():
            if (res.group, res.version) != (group, version):
                continue
            gvk = {'group': group, 'version': version, 'kind': res.kind}
            params = [{'name': 'fieldValidation', 'in': 'query', 'schema': {'type': 'string', 'uniqueItems': True}},
                      {'name': 'dryRun', 'in': 'query', 'schema': {'type': 'string', 'uniqueItems': True}}]
            scope = f'{prefix}/namespaces/{{namespace}}/{res.plural}' if res.namespaced else f'{prefix}/{res.plural}'
            operation = {'parameters': params, 'x-kubernetes-group-version-kind': gvk}
            paths[f'{scope}/{{name}}'] = {'get': {'x-kubernetes-group-version-kind': gvk},
                                          'put': operation, 'patch': operation}
            paths[scope] = {'post': operation}
        if not paths:
            raise kmock.KubernetesNotFoundError()
        return {'openapi': '3.0.0', 'info': {'title': 'Kubernetes (emulated)', 'version': 'v1.26.4'},
                'paths': paths, 'components': {'schemas': {}}}

    def _get_resources(self) -> builtins.list[references.resource]:
        # kmock also "discovers" the resources of every stored object, even of deleted ones and of
        # deleted CRDs; the API server only serves what is declared.
        return kmock.KubernetesScaffold._get_resources(self)

    def declare_resource(self, group: str, version: str, plural: str, *, kind: str, namespaced: bool = True,
                         singular: str | None = None, status: bool = False,
                         shortnames: Iterable[str] = (), categories: Iterable[str] = ()) -> Res:
        """Declare (or redeclare) a served resource in discovery, with all verbs."""
        self.resources[references.resource(group, version, plural)] = references.ResourceInfo(
            kind=kind, singular=singular or kind.lower(), namespaced=namespaced, verbs=ALL_VERBS,
            shortnames=set(shortnames), categories=set(categories), subresources={'status'} if status else set())
        return self._res(group, version, plural)

    def _res(self, group: str, version: str | None, plural: str) -> Res:
        for resource in self.resources:
            if resource.group == group and resource.plural == plural and (version is None or resource.version == version):
                info = self.resources[resource]
                return Res(group=group, version=resource.version, plural=plural,
                           kind=info.kind or plural.capitalize(), singular=info.singular or (info.kind or plural).lower(),
                           namespaced=bool(info.namespaced), subresources=frozenset(info.subresources),
                           shortnames=frozenset(info.shortnames))
        raise ApiError(404, 'NotFound', 'the server could not find the requested resource')

    def _all_res(self) -> Iterator[Res]:
        for resource in builtins.list(self.resources):
            if resource.plural and '/' not in resource.plural:
                yield self._res(resource.group, resource.version, resource.plural)

    def _resolve(self, what: Any, api_version: str | None = None) -> Res:
        """Find a resource by kind, plural, singular, short name, ``plural.group`` or ``group/version/plural``."""
        if isinstance(what, Res):
            return what
        if isinstance(what, references.Selectable):
            return self._res(what.group or '', what.version, what.plural or '')
        text = str(what)
        group = version = None
        if api_version:
            group, _, version = api_version.rpartition('/')
        elif '/' in text:
            parsed = references.resource(text)
            group, version, text = parsed.group, parsed.version, parsed.plural or ''
        elif '.' in text:
            text, _, group = text.partition('.')
        candidates = [
            res for res in self._all_res()
            if (group is None or res.group == group) and (version is None or res.version == version)
            if text.lower() in {res.plural, res.singular, res.kind.lower()} | set(res.shortnames)
        ]
        if not candidates:
            raise KeyError(f'Unknown resource: {what!r}' + (f' in {api_version}' if api_version else ''))
        priority = {'': 0, 'kpi.dev': 1, 'monitoring.coreos.com': 1, 'apps': 2}
        candidates.sort(key=lambda res: (priority.get(res.group, 3), res.group,
                                         self._storage_versions.get((res.group, res.plural)) != res.version))
        return candidates[0]

    # ----------------------------------------------------------------------------------------------
    # CRDs: discovery entries and schemas of the resources they define.
    # ----------------------------------------------------------------------------------------------

    def _install_crd(self, crd: Mapping[str, Any]) -> None:
        name = crd.get('metadata', {}).get('name', '')
        spec = crd.get('spec') or {}
        group, names = spec.get('group', ''), spec.get('names') or {}
        plural, kind = names.get('plural', ''), names.get('kind', '')
        self._uninstall_crd(name, keep_objects=True)
        keys: builtins.list[str] = []
        for version in spec.get('versions') or []:
            if not version.get('served', True):
                continue
            vname = version['name']
            key = f'{group}/{vname}/{plural}'
            subresources = set((version.get('subresources') or spec.get('subresources') or {}).keys())
            self.resources[key] = references.ResourceInfo(
                kind=kind, singular=names.get('singular') or kind.lower(),
                namespaced=spec.get('scope', 'Namespaced') == 'Namespaced', verbs=ALL_VERBS,
                shortnames=set(names.get('shortNames') or []), categories=set(names.get('categories') or []),
                subresources=subresources)
            schema = (version.get('schema') or spec.get('validation') or {}).get('openAPIV3Schema')
            if schema:
                self._schemas[group, vname, plural] = _Schema.compile(schema)
            if version.get('storage'):
                self._storage_versions[group, plural] = vname
            keys.append(key)
        self._crd_resources[name] = keys

    def _uninstall_crd(self, name: str, *, keep_objects: bool) -> None:
        for key in self._crd_resources.pop(name, []):
            resource = references.resource(key)
            if not keep_objects:  # the API server deletes all objects of a deleted CRD
                for array_key, body in builtins.list(self._live()):
                    if (array_key[0].group, array_key[0].plural) == (resource.group, resource.plural):
                        body = copy.deepcopy(body)
                        body['metadata']['resourceVersion'] = str(self._next_rv())
                        self._remove(self._res(resource.group, resource.version, resource.plural), array_key, body)
            self._schemas.pop((resource.group, resource.version, resource.plural), None)
            if resource in self.resources:
                del self.resources[resource]

    # ----------------------------------------------------------------------------------------------
    # Storage: kmock's `objects` array (with history), a change log for watches, resourceVersions.
    # ----------------------------------------------------------------------------------------------

    def _key(self, res: Res, namespace: str | None, name: str) -> tuple[references.resource, str | None, str]:
        version = self._storage_versions.setdefault((res.group, res.plural), res.version)
        return references.resource(res.group, version, res.plural), namespace if res.namespaced else None, name

    def _current(self, key: tuple[references.resource, str | None, str]) -> dict[str, Any] | None:
        if key not in self.objects:
            return None
        obj = self.objects[key]
        return None if obj.deleted else obj.last.raw

    def _live(self) -> Iterator[tuple[tuple[references.resource, str | None, str], dict[str, Any]]]:
        for key, obj in self.objects.items():
            if not obj.deleted:
                yield key, obj.last.raw

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def _record(self, res: Res, namespace: str | None, type_: str, body: dict[str, Any], old: dict[str, Any] | None) -> None:
        rv = int(body['metadata']['resourceVersion'])
        self._log.append(_Change(rv, res.group, res.plural, namespace, type_, copy.deepcopy(body), old))
        self._log_rvs.append(rv)
        if len(self._log) > self.history_limit:
            cut = max(1, self.history_limit // 10)
            self._log_floor = self._log_rvs[cut - 1]
            del self._log[:cut], self._log_rvs[:cut]
        self._notify()

    def _store(self, res: Res, key: Any, body: dict[str, Any], type_: str, old: dict[str, Any] | None) -> None:
        if key in self.objects:
            self.objects[key].history.append(copy.deepcopy(body))
        else:
            self.objects[key] = copy.deepcopy(body)
        self._record(res, key[1], type_, body, old)
        self._controller_notice(res, body)

    def _remove(self, res: Res, key: Any, body: dict[str, Any]) -> None:
        # The final state (e.g. with the last finalizer removed) goes to the history too, for tests.
        old = self._current(key)
        self.objects[key].history.append(copy.deepcopy(body))
        self.objects[key].delete()
        self._record(res, key[1], 'DELETED', body, old)
        self._controller_notice(res, body)

    def _present(self, body: Mapping[str, Any], res: Res) -> dict[str, Any]:
        """A deep copy for the outside world, in the requested API version."""
        result = copy.deepcopy(dict(body))
        result['apiVersion'] = res.api_version
        return result

    # ----------------------------------------------------------------------------------------------
    # Admission: system fields, schema defaults, unknown fields, validation.
    # ----------------------------------------------------------------------------------------------

    def _invalid(self, res: Res, name: str, causes: Sequence[Mapping[str, str]]) -> ApiError:
        lines = [f"{c['field']}: {c['message']}" if c.get('field') and not c['message'].startswith('unknown field') else c['message']
                 for c in causes]
        text = lines[0] if len(lines) == 1 else f'[{", ".join(lines)}]'
        return ApiError(422, 'Invalid', f'{res.qualified_kind} "{name}" is invalid: {text}',
                        {'name': name, 'group': res.group, 'kind': res.kind, 'causes': builtins.list(causes)})

    def _check_name(self, res: Res, name: str) -> None:
        if len(name) > 253 or not _NAME_RE.match(name):
            raise self._invalid(res, name, [{
                'reason': 'FieldValueInvalid', 'field': 'metadata.name',
                'message': f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                           f"alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"}])

    def _admit(self, res: Res, body: dict[str, Any], mode: str) -> builtins.list[str]:
        """Default, prune or refuse unknown fields, and validate ``body`` in place; return warnings."""
        schema = self._schemas.get((res.group, res.version, res.plural))
        if schema is None:
            return []
        name = body.get('metadata', {}).get('name', '')
        mode = mode.capitalize()
        if mode not in ('Strict', 'Warn', 'Ignore'):
            raise ApiError(400, 'BadRequest', f'fieldValidation must be one of Ignore, Warn, Strict; got {mode!r}')
        unknown: builtins.list[str] = []
        root = {k: v for k, v in body.items() if k not in ('apiVersion', 'kind', 'metadata')}
        root = _structural_walk(schema.structural, root, [], unknown, prune=mode != 'Strict')
        body.update(root)
        for key in builtins.list(body):
            if key not in root and key not in ('apiVersion', 'kind', 'metadata'):
                del body[key]
        causes: builtins.list[dict[str, str]] = []
        if mode == 'Strict':
            causes += [{'reason': 'FieldValueInvalid', 'field': path, 'message': f'unknown field "{path}"'} for path in unknown]
        errors = sorted(schema.validator.iter_errors(root), key=lambda e: (_fmt_path(e.absolute_path), e.validator))
        for error in errors:
            causes += _schema_causes(error)
        if causes:
            raise self._invalid(res, name, causes)
        return [f'unknown field "{path}"' for path in unknown] if mode == 'Warn' else []

    @staticmethod
    def _normalize_metadata(meta: dict[str, Any]) -> None:
        for key in _OMIT_EMPTY_METADATA:
            if key in meta and not meta[key]:
                del meta[key]

    def _content(self, body: Mapping[str, Any], res: Res) -> dict[str, Any]:
        """What ``generation`` tracks: everything but metadata (and status with a subresource)."""
        skip = {'metadata', 'apiVersion', 'kind'} | ({'status'} if res.has_status else set())
        return {k: v for k, v in body.items() if k not in skip}

    # ----------------------------------------------------------------------------------------------
    # Namespaces.
    # ----------------------------------------------------------------------------------------------

    def _ensure_namespace(self, name: str | None) -> None:
        if not name:
            return
        res = self._res('', 'v1', 'namespaces')
        current = self._current(self._key(res, None, name))
        if current is not None:
            if current['metadata'].get('deletionTimestamp'):
                raise ApiError(403, 'Forbidden', f'unable to create new content in namespace {name} because it is being terminated',
                               {'name': name, 'kind': 'namespaces'})
            return
        if not self.auto_namespaces:
            raise ApiError(404, 'NotFound', f'namespaces "{name}" not found', {'name': name, 'kind': 'namespaces'})
        self._create(res, None, {
            'apiVersion': 'v1', 'kind': 'Namespace',
            'metadata': {'name': name, 'labels': {'kubernetes.io/metadata.name': name}},
            'spec': {'finalizers': ['kubernetes']}, 'status': {'phase': 'Active'},
        }, system=True)

    def _maybe_finish_namespace(self, name: str | None) -> None:
        if not name:
            return
        res = self._res('', 'v1', 'namespaces')
        key = self._key(res, None, name)
        current = self._current(key)
        if current is None or not current['metadata'].get('deletionTimestamp'):
            return
        if any(k[1] == name for k, _ in self._live()) or current['metadata'].get('finalizers'):
            return
        body = copy.deepcopy(current)
        body['metadata']['resourceVersion'] = str(self._next_rv())
        self._remove(res, key, body)

    # ----------------------------------------------------------------------------------------------
    # The operations (synchronous: atomic within the event loop). Used by HTTP and by the helpers.
    # ----------------------------------------------------------------------------------------------

    def _require(self, res: Res, namespace: str | None, name: str) -> tuple[Any, dict[str, Any]]:
        key = self._key(res, namespace, name)
        current = self._current(key)
        if current is None:
            raise ApiError(404, 'NotFound', f'{res.qualified_plural} "{name}" not found',
                           {'name': name, 'group': res.group, 'kind': res.plural})
        return key, current

    def _conflict(self, res: Res, name: str) -> ApiError:
        return ApiError(409, 'Conflict',
                        f'Operation cannot be fulfilled on {res.qualified_plural} "{name}": the object has been '
                        f'modified; please apply your changes to the latest version and try again',
                        {'name': name, 'group': res.group, 'kind': res.plural})

    def _create(self, res: Res, namespace: str | None, body: Any, *, dry_run: bool = False,
                field_validation: str | None = None, system: bool = False) -> tuple[dict[str, Any], builtins.list[str]]:
        if not isinstance(body, dict):
            raise ApiError(400, 'BadRequest', 'the body of the request must be a JSON object')
        body = copy.deepcopy(body)
        meta = body.setdefault('metadata', {})
        if not isinstance(meta, dict):
            raise ApiError(400, 'BadRequest', 'metadata must be an object')
        if res.namespaced:
            if system and not namespace:
                namespace = meta.get('namespace') or 'default'
            if not namespace:
                raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
            if meta.get('namespace') not in (None, '', namespace):
                raise ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request')
            meta['namespace'] = namespace
        else:
            meta.pop('namespace', None)
            namespace = None
        if body.get('kind') not in (None, res.kind):
            raise ApiError(400, 'BadRequest', f'the kind {body["kind"]!r} does not match the resource {res.qualified_plural}')
        body['apiVersion'], body['kind'] = res.api_version, res.kind
        for field in _SYSTEM_METADATA:
            meta.pop(field, None)
        name = meta.get('name')
        if not name:
            prefix = meta.get('generateName')
            if not prefix:
                raise self._invalid(res, '', [{'reason': 'FieldValueRequired', 'field': 'metadata.name',
                                               'message': 'Required value: name or generateName is required'}])
            while not name or self._current(self._key(res, namespace, name)) is not None:
                name = prefix + ''.join(random.choice(_GENERATE_NAME_ALPHABET) for _ in range(5))
            meta['name'] = name
        self._check_name(res, name)
        key = self._key(res, namespace, name)
        if self._current(key) is not None:
            raise ApiError(409, 'AlreadyExists', f'{res.qualified_plural} "{name}" already exists',
                           {'name': name, 'group': res.group, 'kind': res.plural})
        if res.has_status and not system:
            body.pop('status', None)  # the status subresource: creation never sets status
        if res.is_namespace:  # as the namespace controller would, at once
            body.setdefault('spec', {}).setdefault('finalizers', ['kubernetes'])
            body['status'] = {'phase': 'Active'}
            meta.setdefault('labels', {})['kubernetes.io/metadata.name'] = meta.get('name')
        if res.is_crd and 'status' not in body:  # as the apiextensions controller would, at once
            body['status'] = {
                'acceptedNames': copy.deepcopy((body.get('spec') or {}).get('names') or {}),
                'storedVersions': [v['name'] for v in (body.get('spec') or {}).get('versions') or [] if v.get('storage')],
                'conditions': [{'type': t, 'status': 'True', 'reason': t, 'lastTransitionTime': _now()}
                               for t in ('NamesAccepted', 'Established')],
            }
        meta['uid'] = str(uuid.uuid4())
        meta['creationTimestamp'] = _now()
        meta['generation'] = 1
        warnings = self._admit(res, body, field_validation or self.field_validation)
        self._normalize_metadata(meta)
        if dry_run:
            return self._present(body, res), warnings
        if res.namespaced:
            self._ensure_namespace(namespace)
        meta['resourceVersion'] = str(self._next_rv())
        self._store(res, key, body, 'ADDED', None)
        if res.is_crd:
            self._install_crd(body)
        return self._present(body, res), warnings

    def _replace(self, res: Res, namespace: str | None, name: str, subresource: str | None, body: Any, *,
                 dry_run: bool = False, field_validation: str | None = None) -> tuple[dict[str, Any], builtins.list[str]]:
        key, current = self._require(res, namespace, name)
        if not isinstance(body, dict) or not isinstance(body.get('metadata', {}), dict):
            raise ApiError(400, 'BadRequest', 'the body of the request must be a JSON object with metadata')
        meta = body.get('metadata') or {}
        if meta.get('name') not in (None, name):
            raise ApiError(400, 'BadRequest', f'the name of the object ({meta.get("name")}) does not match the name on the URL ({name})')
        if meta.get('resourceVersion') and meta['resourceVersion'] != current['metadata']['resourceVersion']:
            raise self._conflict(res, name)
        new = self._compose(res, current, body, subresource)
        return self._commit(res, key, current, new, subresource, dry_run=dry_run, field_validation=field_validation)

    def _patch(self, res: Res, namespace: str | None, name: str, subresource: str | None, patch: Any, content_type: str, *,
               dry_run: bool = False, field_validation: str | None = None) -> tuple[dict[str, Any], builtins.list[str]]:
        key, current = self._require(res, namespace, name)
        if content_type == 'application/json-patch+json':
            if not isinstance(patch, builtins.list):
                raise ApiError(400, 'BadRequest', 'a JSON-patch must be a list of operations')
            try:
                patched = json_patch(current, patch)
            except (_JSONPatchError, KeyError, TypeError) as e:
                raise ApiError(422, 'Invalid', f'the server rejected our request due to an error in our request: {e}',
                               {'name': name, 'group': res.group, 'kind': res.plural})
        elif content_type in ('application/merge-patch+json', 'application/strategic-merge-patch+json'):
            if not isinstance(patch, dict):
                raise ApiError(400, 'BadRequest', 'a merge-patch must be a JSON object')
            patched = merge_patch(current, _strip_strategic_directives(patch))
        else:
            raise ApiError(415, 'UnsupportedMediaType',
                           f'the body of the request was in an unknown format - accepted media types include: '
                           f'application/json-patch+json, application/merge-patch+json, '
                           f'application/strategic-merge-patch+json (got {content_type!r})')
        if not isinstance(patched, dict) or not isinstance(patched.get('metadata'), dict):
            raise ApiError(422, 'Invalid', 'the patch removes the metadata of the object')
        precondition = patched['metadata'].get('resourceVersion')
        if precondition and precondition != current['metadata']['resourceVersion']:
            raise self._conflict(res, name)  # an optimistic-concurrency precondition in the patch
        new = self._compose(res, current, patched, subresource)
        return self._commit(res, key, current, new, subresource, dry_run=dry_run, field_validation=field_validation)

    def _compose(self, res: Res, current: dict[str, Any], body: dict[str, Any], subresource: str | None) -> dict[str, Any]:
        """The status subresource separation: which parts of ``body`` may change the object."""
        if subresource not in (None, 'status') or (subresource == 'status' and not res.has_status):
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        if subresource == 'status':
            new = copy.deepcopy(current)
            if 'status' in body:
                new['status'] = copy.deepcopy(body['status'])
            else:
                new.pop('status', None)
        else:
            new = copy.deepcopy(body)
            if res.has_status:
                new.pop('status', None)
                if 'status' in current:
                    new['status'] = copy.deepcopy(current['status'])
        return new

    def _commit(self, res: Res, key: Any, current: dict[str, Any], new: dict[str, Any], subresource: str | None, *,
                dry_run: bool, field_validation: str | None) -> tuple[dict[str, Any], builtins.list[str]]:
        name = current['metadata']['name']
        old_meta = current['metadata']
        meta = new.setdefault('metadata', {})
        for field in ('name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp',
                      'deletionGracePeriodSeconds', 'generation', 'resourceVersion'):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        meta.pop('managedFields', None)
        new['apiVersion'], new['kind'] = current['apiVersion'], current['kind']
        if old_meta.get('deletionTimestamp'):
            added = set(meta.get('finalizers') or []) - set(old_meta.get('finalizers') or [])
            if added:
                raise self._invalid(res, name, [{
                    'reason': 'FieldValueForbidden', 'field': 'metadata.finalizers',
                    'message': f'Forbidden: no new finalizers can be added if the object is being deleted, '
                               f'found new finalizers {sorted(added)}'}])
        default_mode = self.status_field_validation if subresource == 'status' else self.field_validation
        warnings = self._admit(res, new, field_validation or default_mode)
        self._normalize_metadata(meta)
        if new == current:
            return self._present(current, res), warnings  # a no-op: no new resourceVersion, no event
        if self._content(new, res) != self._content(current, res):
            meta['generation'] = int(old_meta.get('generation', 0)) + 1
        if dry_run:
            return self._present(new, res), warnings
        meta['resourceVersion'] = str(self._next_rv())
        if meta.get('deletionTimestamp') and not meta.get('finalizers'):
            self._remove(res, key, new)  # the last finalizer is gone: the deletion completes
            self._after_removal(res, new, None)
        else:
            self._store(res, key, new, 'MODIFIED', current)
            if res.is_crd:
                self._install_crd(new)
        return self._present(new, res), warnings

    def _delete(self, res: Res, namespace: str | None, name: str, options: Mapping[str, Any] | None = None, *,
                dry_run: bool = False) -> dict[str, Any]:
        key, current = self._require(res, namespace, name)
        options = options or {}
        preconditions = options.get('preconditions') or {}
        if preconditions.get('uid') and preconditions['uid'] != current['metadata'].get('uid'):
            raise ApiError(409, 'Conflict', f'Precondition failed: UID in precondition: {preconditions["uid"]}, '
                                            f'UID in object meta: {current["metadata"].get("uid")}',
                           {'name': name, 'group': res.group, 'kind': res.plural})
        if preconditions.get('resourceVersion') and preconditions['resourceVersion'] != current['metadata']['resourceVersion']:
            raise ApiError(409, 'Conflict', f'Precondition failed: ResourceVersion in precondition: '
                                            f'{preconditions["resourceVersion"]}, ResourceVersion in object meta: '
                                            f'{current["metadata"]["resourceVersion"]}',
                           {'name': name, 'group': res.group, 'kind': res.plural})
        if dry_run or current['metadata'].get('deletionTimestamp'):
            return self._present(current, res)
        body = copy.deepcopy(current)
        meta = body['metadata']
        meta['resourceVersion'] = str(self._next_rv())
        if meta.get('finalizers') or res.is_namespace:
            meta['deletionTimestamp'] = _now()
            meta['deletionGracePeriodSeconds'] = 0
            meta['generation'] = int(meta.get('generation', 0)) + 1
            if res.is_namespace:
                body.setdefault('status', {})['phase'] = 'Terminating'
            self._store(res, key, body, 'MODIFIED', current)
            if res.is_namespace:
                for child_key, child in builtins.list(self._live()):
                    if child_key[1] == name and self._current(child_key) is not None:
                        child_res = self._res(child_key[0].group, child_key[0].version, child_key[0].plural)
                        self._delete(child_res, name, child_key[2], {'propagationPolicy': options.get('propagationPolicy')})
                self._maybe_finish_namespace(name)
                after = self._current(key)
                return self._present(after if after is not None else body, res)
        else:
            self._remove(res, key, body)
            self._after_removal(res, body, options.get('propagationPolicy'))
        return self._present(body, res)

    def _after_removal(self, res: Res, body: Mapping[str, Any], policy: str | None) -> None:
        """Side effects of an object leaving the store: CRDs, namespaces, garbage collection."""
        meta = body.get('metadata', {})
        if res.is_crd:
            self._uninstall_crd(meta.get('name', ''), keep_objects=False)
        if res.namespaced:
            self._maybe_finish_namespace(meta.get('namespace'))
        if not self.garbage_collection or policy == 'Orphan':
            return
        alive = {b['metadata'].get('uid') for _, b in self._live()}
        for key, dependent in builtins.list(self._live()):
            owners = {ref.get('uid') for ref in dependent['metadata'].get('ownerReferences', [])}
            if meta.get('uid') in owners and not owners & alive and self._current(key) is not None:
                dep_res = self._res(key[0].group, key[0].version, key[0].plural)
                try:
                    self._delete(dep_res, key[1], key[2])
                except ApiError:  # pragma: no cover  # e.g. already gone by a nested cascade
                    pass

    def _select(self, res: Res, namespace: str | None, label_selector: Any = None,
                field_selector: Any = None) -> builtins.list[dict[str, Any]]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        items = [
            body for key, body in self._live()
            if (key[0].group, key[0].plural) == (res.group, res.plural)
            if namespace is None or key[1] == namespace
            if _labels_match(body['metadata'].get('labels') or {}, labels) and _fields_match(body, fields)
        ]
        return sorted(items, key=lambda b: (b['metadata'].get('namespace') or '', b['metadata']['name']))

    # ----------------------------------------------------------------------------------------------
    # Controllers (opt-in): the Deployment controller, fed by writes as by informers, run after them.
    # ----------------------------------------------------------------------------------------------

    def _controller_notice(self, res: Res, body: Mapping[str, Any]) -> None:
        """Queue a sync for a written Deployment or ReplicaSet (and a ReplicaSet's owning Deployment).

        Writes made by the controller itself queue nothing: each sync does all there is to do at once.
        """
        if self._controller is None or self._controller_busy or res.group != 'apps':
            return
        meta = body.get('metadata') or {}
        if res.plural == 'deployments':
            self._controller_queue[('deployments', meta.get('namespace') or '', meta.get('name') or '')] = None
        elif res.plural == 'replicasets':
            self._controller_queue[('replicasets', meta.get('namespace') or '', meta.get('name') or '')] = None
            for ref in meta.get('ownerReferences') or []:
                if ref.get('controller') is True and ref.get('kind') == 'Deployment':
                    self._controller_queue[('deployments', meta.get('namespace') or '', ref.get('name') or '')] = None

    def _run_controllers(self) -> None:
        """Sync what the last operation queued: now, or ``deployment_controller_delay`` seconds later (a later
        write to the same object before then is handled by the same sync, as a controller's work queue would)."""
        if not self._controller_queue:
            return
        keys = builtins.list(self._controller_queue)
        self._controller_queue.clear()
        loop: asyncio.AbstractEventLoop | None = None
        if self.deployment_controller_delay > 0:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not serving yet (e.g. objects made before `async with`): at once
                loop = None
        for key in keys:
            if loop is None:
                self._controller_sync(key)
            elif key not in self._controller_timers:
                self._controller_timers[key] = loop.call_later(self.deployment_controller_delay, self._controller_fire, key)

    def run_controllers(self) -> None:
        """Run now the controller syncs that wait for ``deployment_controller_delay`` (a test's way to end a lag
        it made observable, without waiting for it)."""
        self._run_controllers()
        for key, timer in builtins.list(self._controller_timers.items()):
            timer.cancel()
            self._controller_fire(key)

    def _controller_fire(self, key: tuple[str, str, str]) -> None:
        self._controller_timers.pop(key, None)
        self._controller_sync(key)

    def _controller_sync(self, key: tuple[str, str, str]) -> None:
        assert self._controller is not None
        kind, namespace, name = key
        self._controller_busy = True
        try:
            if kind == 'deployments':
                self._controller.sync_deployment(namespace, name)
            else:
                self._controller.sync_replicaset(namespace, name)
        except ApiError as e:  # e.g. a namespace being deleted; a real controller would retry, this one waits
            logger.warning('The Deployment controller failed to sync %s %s/%s: %s', kind, namespace, name, e)
        finally:
            self._controller_busy = False

    # ----------------------------------------------------------------------------------------------
    # Helpers for tests: read and write the state directly (no HTTP), with the API's rules.
    # ----------------------------------------------------------------------------------------------

    def create(self, obj: Mapping[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        """
        Create an object as the API would (validation, uid, resourceVersion, watch event).

        The resource comes from the body's ``apiVersion`` and ``kind``; the namespace from the
        argument, the body, or ``default``. If the body has a ``status`` and the resource has a
        status subresource, the status is written after the creation, as a second write to
        ``/status`` (as kubectl create + kubectl patch --subresource=status would do).
        Raises :class:`ApiError` (e.g. 422 for an invalid body). Returns the stored object.
        """
        res = self._resolve(obj.get('kind', ''), obj.get('apiVersion'))
        namespace = (namespace or obj.get('metadata', {}).get('namespace') or 'default') if res.namespaced else None
        created, _ = self._create(res, namespace, dict(obj))
        if res.has_status and obj.get('status') is not None:
            created, _ = self._replace(res, namespace, created['metadata']['name'], 'status',
                                       {'metadata': {}, 'status': copy.deepcopy(obj['status'])})
        self._run_controllers()
        return created

    def get(self, what: Any, namespace: str | None = None, name: str | None = None, /, **kwargs: Any) -> Any:
        """
        The stored object (a copy) or ``None``: ``get('slos', 'default', 'x')``, ``get('SLO', ...)``.

        For cluster-scoped resources, ``get('namespaces', None, 'x')`` or ``get('namespaces', 'x')``.
        For backward compatibility with kmock, ``get('/some/path', ...)`` stays kmock's HTTP GET.
        """
        if isinstance(what, str) and what.startswith('/') and name is None:
            return super().get(what, **kwargs)
        res = self._resolve(what)
        if name is None and not res.namespaced:
            namespace, name = None, namespace
        if name is None:
            raise TypeError('get() needs a name: get(resource, namespace, name).')
        body = self._current(self._key(res, namespace, name))
        return None if body is None else self._present(body, res)

    def list(self, what: Any, namespace: str | None = None, *,
             labels: str | Mapping[str, str] | None = None,
             fields: str | Mapping[str, str] | None = None) -> builtins.list[dict[str, Any]]:
        """Stored objects (copies), sorted by namespace & name; selectors as in the API."""
        res = self._resolve(what)
        return [self._present(body, res) for body in self._select(res, namespace, labels, fields)]

    def events(self, namespace: str | None = None, *, name: str | None = None, kind: str | None = None,
               reason: str | None = None, type: str | None = None) -> builtins.list[dict[str, Any]]:
        """Core v1 events (as kopf posts them), oldest first, optionally filtered by the involved object."""
        res = self._res('', 'v1', 'events')
        result = []
        for body in self._select(res, namespace):
            involved = body.get('involvedObject') or {}
            if name is not None and involved.get('name') != name:
                continue
            if kind is not None and involved.get('kind') != kind:
                continue
            if reason is not None and body.get('reason') != reason:
                continue
            if type is not None and body.get('type') != type:
                continue
            result.append(self._present(body, res))
        return sorted(result, key=lambda b: int(b['metadata']['resourceVersion']))

    def patch_object(self, what: Any, namespace: str | None, name: str, patch: Any, *,
                     subresource: str | None = None, content_type: str = 'application/merge-patch+json') -> dict[str, Any]:
        """Patch as the API would (a merge-patch by default; a list means a JSON-patch)."""
        res = self._resolve(what)
        if isinstance(patch, builtins.list):
            content_type = 'application/json-patch+json'
        result = self._patch(res, namespace, name, subresource, patch, content_type)[0]
        self._run_controllers()
        return result

    def delete_object(self, what: Any, namespace: str | None, name: str, *,
                      propagation_policy: str | None = None) -> dict[str, Any]:
        """Delete as the API would (finalizers block it, dependents are garbage-collected)."""
        res = self._resolve(what)
        result = self._delete(res, namespace, name, {'propagationPolicy': propagation_policy})
        self._run_controllers()
        return result

    @property
    def resource_version(self) -> str:
        """The latest resourceVersion issued (as a list response would report it)."""
        return str(self._rv)

    # ----------------------------------------------------------------------------------------------
    # HTTP: own request parsing (kmock's crashes on /api/v1/namespaces), dispatch, responses.
    # ----------------------------------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # The same flow as kmock's RawHandler.__call__, but with this class's path parsing.
        await raw_request.read()
        raw_response: aiohttp.web.StreamResponse | None = None
        try:
            if self.limit is not None and len(self._requests) >= self.limit:
                raise apps.KMockError('Too many requests have been served so far.')
            if self.request_log_limit is not None and len(self._requests) > self.request_log_limit:
                del self._requests[:-self.request_log_limit]
            request = await self._parse_request(raw_request, id=len(self._requests))
            self._requests.append(request)
            try:
                return await self._handle(request)
            except rendering.StreamingError as e:
                raw_response = e.args[0]
                if e.__cause__ is not None:
                    raise e.__cause__
                raise
        except Exception as e:
            if not self._errors:
                raise
            self._errors[-1].append(e)
            if raw_response is None or not raw_response.prepared:
                return await self._render_error(e)
            await self._stream_error(e, raw_response)
            await raw_response.write_eof()
            return raw_response

    async def _parse_request(self, raw: aiohttp.web.BaseRequest, *, id: int) -> rendering.Request:
        body = await raw.read()
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        group, version, plural, namespace, name, subresource = self._parse_path(raw.path)
        params = dict(raw.query)
        resource = None if group is None else references.resource(group=group, version=version, plural=plural)
        method = raw.method.upper()
        watching = params.get('watch', '').lower() in ('true', '1')
        action = (None if group is None or plural is None else
                  enums.action.WATCH if method == 'GET' and watching else
                  enums.action.FETCH if method == 'GET' and name else
                  enums.action.LIST if method == 'GET' else
                  enums.action.CREATE if method == 'POST' else
                  enums.action.UPDATE if method in ('PUT', 'PATCH') else
                  enums.action.DELETE if method == 'DELETE' else None)
        return rendering.Request(
            id=id, raw_request=raw, url=raw.url, method=raw.method, params=params,
            headers=dict(raw.headers), cookies=dict(raw.cookies),
            body=body, text=body.decode('utf-8', 'replace'), data=data,
            action=action, resource=resource, namespace=namespace, name=name, subresource=subresource,
        )

    def _parse_path(self, path: str) -> tuple[str | None, str | None, str | None, str | None, str | None, str | None]:
        parts = [p for p in path.strip('/').split('/') if p]
        if len(parts) >= 2 and parts[0] == 'api':
            group, version, rest = '', parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == 'apis':
            group, version, rest = parts[1], parts[2], parts[3:]
        elif len(parts) == 2 and parts[0] == 'apis':
            return parts[1], None, None, None, None, None
        else:
            return None, None, None, None, None, None
        if not rest:
            return group, version, None, None, None, None
        namespace = name = subresource = None
        if rest[0] == 'namespaces' and len(rest) >= 3 and not (
                group == '' and len(rest) == 3 and rest[2] in ('status', 'finalize')):
            namespace, plural, rest = rest[1], rest[2], rest[3:]
        else:
            plural, rest = rest[0], rest[1:]
        if rest:
            name, rest = rest[0], rest[1:]
        if rest:
            subresource = '/'.join(rest)
        return group, version, plural, namespace, name, subresource

    def _is_resource_request(self, request: rendering.Request) -> bool:
        return request.resource is not None and request.resource.plural is not None

    def _serve_statefully(self) -> None:
        raise _ServeStatefully()

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        # kmock's reactions first (user-defined ones have priority), then the fallback hands over.
        # NB: kmock's KubernetesEmulator._handle (state changes before any reaction) is skipped.
        try:
            return await apps.RawHandler._handle(self, request)
        except _ServeStatefully:
            response = await self._serve(request)
            self._run_controllers()  # before the response is sent: a GET after it sees the controller's writes
            return response

    async def _serve(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        warnings: builtins.list[str] = []
        try:
            assert request.resource is not None and request.resource.plural is not None
            res = self._res(request.resource.group or '', request.resource.version, request.resource.plural)
            namespace, name, sub = request.namespace, request.name, request.subresource
            if namespace and not res.namespaced:
                raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
            if name and res.namespaced and not namespace:
                raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
            params = request.params
            method = str(request.method.value).upper()
            dry_run = params.get('dryRun') == 'All'
            field_validation = params.get('fieldValidation') or None
            status = 200
            if method == 'GET' and params.get('watch', '').lower() in ('true', '1'):
                return await self._serve_watch(request, res, namespace, name)
            elif method == 'GET' and name:
                _, current = self._require(res, namespace, name)
                if sub not in (None, 'status') or (sub == 'status' and not res.has_status):
                    raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
                result: dict[str, Any] = self._present(current, res)
            elif method == 'GET':
                result = self._serve_list(res, namespace, params)
            elif method == 'POST' and not name:
                result, warnings = self._create(res, namespace, self._json(request), dry_run=dry_run,
                                                field_validation=field_validation)
                status = 201
            elif method == 'PUT' and name:
                result, warnings = self._replace(res, namespace, name, sub, self._json(request),
                                                 dry_run=dry_run, field_validation=field_validation)
            elif method == 'PATCH' and name:
                content_type = request._raw_request.content_type if request._raw_request is not None else ''
                result, warnings = self._patch(res, namespace, name, sub, self._json(request), content_type,
                                               dry_run=dry_run, field_validation=field_validation)
            elif method == 'DELETE' and name:
                options = dict(request.data) if isinstance(request.data, dict) else {}
                options.setdefault('propagationPolicy', params.get('propagationPolicy'))
                dry_run = dry_run or options.get('dryRun') == ['All']
                result = self._delete(res, namespace, name, options, dry_run=dry_run)
            elif method == 'DELETE':
                options = dict(request.data) if isinstance(request.data, dict) else {}
                items = self._select(res, namespace, params.get('labelSelector'), params.get('fieldSelector'))
                deleted = [self._delete(res, item['metadata'].get('namespace'), item['metadata']['name'], options)
                           for item in items]
                result = self._list_body(res, deleted)
            else:
                raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
        except ApiError as e:
            logger.debug('%s %s -> %s %s', request.method.value, request.url.path_qs, e.code, e.message)
            return aiohttp.web.json_response(e.status, status=e.code)
        headers = {'Warning': ', '.join(f'299 - {json.dumps(w)}' for w in warnings)} if warnings else None
        return aiohttp.web.json_response(result, status=status, headers=headers)

    @staticmethod
    def _json(request: rendering.Request) -> Any:
        content_type = request._raw_request.content_type if request._raw_request is not None else ''
        if 'protobuf' in content_type or 'cbor' in content_type:
            raise ApiError(415, 'UnsupportedMediaType',
                           f'{content_type} is not supported by the emulated API; send JSON (or YAML)')
        if request.data is None and request.body:
            try:
                return yaml.safe_load(request.body)  # e.g. application/yaml from kubectl --raw
            except yaml.YAMLError:
                raise ApiError(400, 'BadRequest', 'the body of the request is neither JSON nor YAML')
        return request.data

    def _list_body(self, res: Res, items: Sequence[Mapping[str, Any]], metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            'apiVersion': res.api_version, 'kind': f'{res.kind}List',
            'metadata': dict(metadata or {'resourceVersion': str(self._rv)}),
            'items': [self._present(item, res) for item in items],
        }

    def _serve_list(self, res: Res, namespace: str | None, params: Mapping[str, str]) -> dict[str, Any]:
        items = self._select(res, namespace, params.get('labelSelector'), params.get('fieldSelector'))
        list_rv = str(self._rv)
        if params.get('continue'):
            try:
                list_rv, last_ns, last_name = json.loads(base64.urlsafe_b64decode(params['continue']))
            except (ValueError, TypeError):
                raise ApiError(400, 'BadRequest', 'invalid continue token')
            items = [b for b in items if (b['metadata'].get('namespace') or '', b['metadata']['name']) > (last_ns, last_name)]
        metadata: dict[str, Any] = {'resourceVersion': list_rv}
        limit = int(params.get('limit') or 0)
        if 0 < limit < len(items):
            last = items[limit - 1]['metadata']
            token = json.dumps([list_rv, last.get('namespace') or '', last['name']])
            metadata['continue'] = base64.urlsafe_b64encode(token.encode()).decode()
            metadata['remainingItemCount'] = len(items) - limit
            items = items[:limit]
        return self._list_body(res, items, metadata)

    async def _serve_watch(self, request: rendering.Request, res: Res, namespace: str | None,
                           name: str | None) -> aiohttp.web.StreamResponse:
        params = request.params
        labels = parse_label_selector(params.get('labelSelector'))
        fields = parse_field_selector(params.get('fieldSelector')) + ([('metadata.name', '=', name)] if name else [])
        rv_param = params.get('resourceVersion') or ''
        send_initial = params.get('sendInitialEvents', '').lower() == 'true'
        timeout = float(params['timeoutSeconds']) if params.get('timeoutSeconds') else None
        if rv_param and not rv_param.isdigit():
            raise ApiError(400, 'BadRequest', f'invalid resourceVersion: {rv_param!r}')
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout

        def matches(body: Mapping[str, Any] | None) -> bool:
            return body is not None and _labels_match(body['metadata'].get('labels') or {}, labels) and _fields_match(body, fields)

        initial: builtins.list[dict[str, Any]] = []
        if not rv_param or rv_param == '0' or send_initial:
            last = self._rv
            initial = [{'type': 'ADDED', 'object': self._present(body, res)}
                       for body in self._select(res, namespace) if matches(body)]
            if send_initial:
                initial.append({'type': 'BOOKMARK', 'object': {
                    'apiVersion': res.api_version, 'kind': res.kind, 'metadata': {
                        'resourceVersion': str(last), 'annotations': {'k8s.io/initial-events-end': 'true'}}}})
        else:
            last = int(rv_param)

        assert request._raw_request is not None
        response = aiohttp.web.StreamResponse(status=200, headers={'Content-Type': 'application/json'})
        response.enable_chunked_encoding()
        await response.prepare(request._raw_request)
        try:
            for event in initial:
                await response.write(json.dumps(event).encode() + b'\n')
            while not self._closing:
                if last < self._log_floor:
                    gone = ApiError(410, 'Expired', f'too old resource version: {last} ({self._log_floor + 1})')
                    await response.write(json.dumps({'type': 'ERROR', 'object': gone.status}).encode() + b'\n')
                    break
                idx = bisect.bisect_right(self._log_rvs, last)
                if idx < len(self._log):
                    for change in self._log[idx:]:
                        last = change.rv
                        event = self._watch_event(change, res, namespace, matches)
                        if event is not None:
                            await response.write(json.dumps(event).encode() + b'\n')
                    continue
                transport = request._raw_request.transport
                if transport is None or transport.is_closing():
                    break
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                wake = self._wake
                try:
                    await asyncio.wait_for(wake.wait(), timeout=1.0 if remaining is None else min(1.0, remaining))
                except asyncio.TimeoutError:
                    pass
            await response.write_eof()
        except (ConnectionError, RuntimeError):  # the client has gone; RuntimeError: closing transport
            pass
        return response

    def _watch_event(self, change: _Change, res: Res, namespace: str | None, matches: Any) -> dict[str, Any] | None:
        if (change.group, change.plural) != (res.group, res.plural):
            return None
        if namespace is not None and change.namespace != namespace:
            return None
        now, before = matches(change.body), matches(change.old)
        type_ = change.type
        if type_ == 'MODIFIED':  # as the API server's watch cache does for selectors
            type_ = 'MODIFIED' if now and before else 'ADDED' if now else 'DELETED' if before else None
        elif not now:
            type_ = None
        return None if type_ is None else {'type': type_, 'object': self._present(change.body, res)}


# --------------------------------------------------------------------------------------------------
# A separate process: python -m kpi_operator_devtools.kube_emulator --port 0 --crds DIR --kubeconfig-out PATH
# --------------------------------------------------------------------------------------------------

async def _serve_forever(args: argparse.Namespace) -> None:
    crds = load_crds(*args.crds) if args.crds else []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with KubeEmulator(crds=crds, listen_host=args.host, listen_port=args.port, request_log_limit=100,
                            deployment_controller=args.deployment_controller,
                            deployment_controller_delay=args.deployment_controller_delay) as emu:
        if args.kubeconfig_out:
            emu.write_kubeconfig(args.kubeconfig_out)
        print(f'READY {emu.server_url}', flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog='python -m kpi_operator_devtools.kube_emulator',
                                     description='Serve an emulated Kubernetes API until killed.')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0, help='0 picks a free port')
    parser.add_argument('--crds', action='append', default=[], help='a CRD file or directory (repeatable)')
    parser.add_argument('--kubeconfig-out', default=None, help='write a kubeconfig pointing at the server here')
    parser.add_argument('--deployment-controller', action='store_true',
                        help='run the Deployment controller (ReplicaSets, revisions, status)')
    parser.add_argument('--deployment-controller-delay', type=float, default=0.0, metavar='SECONDS',
                        help='how long the Deployment controller takes to react to a write')
    parser.add_argument('--verbose', '-v', action='store_true')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    asyncio.run(_serve_forever(args))


if __name__ == '__main__':
    main()
