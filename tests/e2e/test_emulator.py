"""
The emulated Kubernetes API (tests/support/kube_emulator.py) proven with a real kopf operator,
kubernetes_asyncio and plain HTTP: what the project's e2e tests rely on.

No pytest-asyncio needed: each test runs its scenario with :func:`run` (a private event loop)
and a deadline. Nothing sleeps-and-hopes: every wait polls a condition with a deadline.
"""
from __future__ import annotations

import asyncio
import collections
import json
import os
import pathlib
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable
from typing import Any

import aiohttp
import kopf
import pytest
import yaml
from kubernetes_asyncio import client as k8s, config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from support.kopf_runner import run_operator, wait_for
from support.kube_emulator import ApiError, KubeEmulator

pytestmark = pytest.mark.e2e

TESTS_DIR = pathlib.Path(__file__).resolve().parents[1]
SCENARIO_TIMEOUT = 30.0
NS = 'default'

# A small CRD of our own (the project's crds/ are written elsewhere): enough schema to prove
# defaults, types, ranges, enums, required fields and unknown-field refusal.
SLO_CRD: dict[str, Any] = {
    'apiVersion': 'apiextensions.k8s.io/v1',
    'kind': 'CustomResourceDefinition',
    'metadata': {'name': 'slos.kpi.dev'},
    'spec': {
        'group': 'kpi.dev',
        'scope': 'Namespaced',
        'names': {'plural': 'slos', 'singular': 'slo', 'kind': 'SLO', 'shortNames': ['slo']},
        'versions': [{
            'name': 'v1alpha1', 'served': True, 'storage': True,
            'subresources': {'status': {}},
            'schema': {'openAPIV3Schema': {
                'type': 'object',
                'properties': {
                    'spec': {
                        'type': 'object',
                        'required': ['kpi', 'objective'],
                        'properties': {
                            'kpi': {'type': 'string', 'minLength': 1},
                            'objective': {'type': 'number', 'minimum': 0, 'maximum': 100},
                            'window': {'type': 'string', 'default': '30d', 'pattern': '^[0-9]+[dhm]$'},
                            'severity': {'type': 'string', 'enum': ['page', 'ticket']},
                        },
                    },
                    'status': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True},
                },
            }},
        }],
    },
}


def slo(name: str, objective: float = 99.9, **labels: str) -> dict[str, Any]:
    return {
        'apiVersion': 'kpi.dev/v1alpha1', 'kind': 'SLO',
        'metadata': {'name': name, 'namespace': NS, **({'labels': labels} if labels else {})},
        'spec': {'kpi': 'checkout-availability', 'objective': objective},
    }


def run(coro: Awaitable[None]) -> None:
    """
    Like ``asyncio.run`` with a deadline, but in a private loop that is never set as the thread's
    current loop (asyncio.run resets it to None, which orphans the loop that pytest-asyncio and
    looptime keep there: a ResourceWarning per test).
    """
    async def bounded() -> None:
        async with asyncio.timeout(SCENARIO_TIMEOUT):
            await coro

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(bounded())
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def api_config(emu: KubeEmulator) -> k8s.Configuration:
    return k8s.Configuration(host=emu.server_url)


def status_body(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


class Recorder:
    """What kopf's handlers did (they run in kopf's thread; list/Counter updates are atomic)."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.seen: list[tuple[str | None, str, int]] = []  # (event type, name, resourceVersion)
        self.diffs: list[Any] = []

    def saw(self, name: str, rv: str | int) -> bool:
        return any(n == name and r == int(rv) for _, n, r in self.seen)


def tiny_operator(recorder: Recorder, host: str, *, with_delete: bool = False) -> kopf.OperatorRegistry:
    """A tiny operator: SLO -> PrometheusRule (owned), status written, events posted."""
    registry = kopf.OperatorRegistry()

    @kopf.on.event('kpi.dev', 'v1alpha1', 'slos', registry=registry)
    async def record_event(event: dict[str, Any], **_: Any) -> None:
        meta = event['object']['metadata']
        recorder.seen.append((event['type'], meta['name'], int(meta['resourceVersion'])))

    @kopf.on.create('kpi.dev', 'v1alpha1', 'slos', registry=registry)
    async def slo_created(body: kopf.Body, name: str, namespace: str, meta: kopf.Meta, spec: kopf.Spec,
                          patch: kopf.Patch, **_: Any) -> None:
        recorder.calls['create'] += 1
        rule = {
            'apiVersion': 'monitoring.coreos.com/v1', 'kind': 'PrometheusRule',
            'metadata': {'name': f'{name}-rules'},
            'spec': {'groups': [{'name': name, 'rules': [
                {'record': 'slo:objective', 'expr': f'vector({spec["objective"]})'}]}]},
        }
        kopf.adopt(rule, owner=body)  # ownerReferences (for the emulator's garbage collection)
        async with k8s.ApiClient(k8s.Configuration(host=host)) as api:
            created = await k8s.CustomObjectsApi(api).create_namespaced_custom_object(
                'monitoring.coreos.com', 'v1', namespace, 'prometheusrules', rule)
        assert created is not None and created['metadata']['uid']  # a 201 with a body
        kopf.info(body, reason='RuleCreated', message=f'PrometheusRule {name}-rules created')
        patch.status['phase'] = 'Ready'
        patch.status['observedGeneration'] = meta['generation']

    @kopf.on.update('kpi.dev', 'v1alpha1', 'slos', registry=registry)
    async def slo_updated(diff: kopf.Diff, meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
        recorder.calls['update'] += 1
        recorder.diffs.append(list(diff))
        patch.status['observedGeneration'] = meta['generation']

    if with_delete:
        @kopf.on.delete('kpi.dev', 'v1alpha1', 'slos', registry=registry)
        async def slo_deleted(**_: Any) -> None:
            recorder.calls['delete'] += 1

    return registry


async def quiesce(emu: KubeEmulator, recorder: Recorder, name: str) -> None:
    """
    Make sure kopf has finished everything it had to do for ``name`` so far, without sleeping.

    Two status changes in a row (kopf ignores status in its diffs: no handler should run):
    kopf processes one object's events in order, so once it has seen the second, it has fully
    processed everything before it, the first one included. A replayed or late handler would
    have run by then.
    """
    emu.patch_object('slos', NS, name, {'status': {'barrier': 'one'}}, subresource='status')
    last = emu.patch_object('slos', NS, name, {'status': {'barrier': 'two'}}, subresource='status')
    await wait_for(lambda: recorder.saw(name, last['metadata']['resourceVersion']),
                   message='kopf to see the barrier change')


# --------------------------------------------------------------------------------------------------
# (a) create: a PrometheusRule and the status, the handler once, generation 1 throughout.
# --------------------------------------------------------------------------------------------------

def test_create_handler_runs_once_and_status_write_keeps_generation() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with KubeEmulator(crds=[SLO_CRD]) as emu:
            registry = tiny_operator(recorder, emu.server_url)
            async with run_operator(registry, emu) as operator:
                created = emu.create(slo('checkout'))
                assert created['metadata']['generation'] == 1
                assert created['spec']['window'] == '30d'  # the schema default is applied

                rule = await wait_for(lambda: emu.get('prometheusrules', NS, 'checkout-rules'), operator=operator)
                assert rule['spec']['groups'][0]['rules'][0]['expr'] == 'vector(99.9)'
                assert rule['metadata']['ownerReferences'][0]['uid'] == created['metadata']['uid']

                done = await wait_for(lambda: emu.get('slos', NS, 'checkout')['status']['phase'] == 'Ready'
                                      and emu.get('slos', NS, 'checkout'), operator=operator)
                assert done['status']['observedGeneration'] == 1
                assert done['metadata']['generation'] == 1  # status & annotations do not bump it
                assert done['spec'] == created['spec']  # the status write did not touch the spec

                await quiesce(emu, recorder, 'checkout')
                assert recorder.calls == {'create': 1}
                assert emu.get('slos', NS, 'checkout')['metadata']['generation'] == 1

                # No replays: kopf saw every resourceVersion of the object once, in order.
                versions = [rv for _, name, rv in recorder.seen if name == 'checkout']
                assert versions == sorted(set(versions))
                assert [t for t, name, _ in recorder.seen if name == 'checkout'].count('ADDED') <= 1

                # The generation was 1 in every stored version of the object.
                history = emu.objects['kpi.dev/v1alpha1/slos', NS, 'checkout'].history
                assert {version['metadata']['generation'] for version in history} == {1}

                # kopf's events reach the API and can be asserted on.
                events = await wait_for(lambda: emu.events(NS, name='checkout', reason='RuleCreated'))
                assert events[0]['message'] == 'PrometheusRule checkout-rules created'
                assert events[0]['involvedObject']['kind'] == 'SLO'
            assert emu.errors == []  # no request failed inside the emulator
    run(scenario())


# --------------------------------------------------------------------------------------------------
# (b) a spec change bumps generation and triggers the update handler once.
# --------------------------------------------------------------------------------------------------

def test_spec_change_bumps_generation_and_runs_update_once() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with KubeEmulator(crds=[SLO_CRD]) as emu:
            registry = tiny_operator(recorder, emu.server_url)
            async with run_operator(registry, emu) as operator:
                emu.create(slo('checkout', objective=99.9))
                await wait_for(lambda: emu.get('slos', NS, 'checkout')['status']['observedGeneration'] == 1,
                               operator=operator)
                await quiesce(emu, recorder, 'checkout')

                async with k8s.ApiClient(api_config(emu)) as api:
                    patched = await k8s.CustomObjectsApi(api).patch_namespaced_custom_object(
                        'kpi.dev', 'v1alpha1', NS, 'slos', 'checkout', {'spec': {'objective': 99.5}},
                        _content_type='application/merge-patch+json')
                assert patched['metadata']['generation'] == 2
                assert patched['status']['phase'] == 'Ready'  # a spec write keeps the status

                await wait_for(lambda: emu.get('slos', NS, 'checkout')['status']['observedGeneration'] == 2,
                               operator=operator)
                await quiesce(emu, recorder, 'checkout')
                assert recorder.calls == {'create': 1, 'update': 1}
                assert [('change', ('spec', 'objective'), 99.9, 99.5)] in [
                    [tuple(item) for item in diff] for diff in recorder.diffs]
                assert emu.get('slos', NS, 'checkout')['metadata']['generation'] == 2
            assert emu.errors == []
    run(scenario())


# --------------------------------------------------------------------------------------------------
# (c) invalid bodies: 422 with the field path, as the API server (and kubectl) would show.
# --------------------------------------------------------------------------------------------------

def test_invalid_bodies_are_refused_with_the_field_path() -> None:
    async def scenario() -> None:
        async with KubeEmulator(crds=[SLO_CRD]) as emu:
            async with k8s.ApiClient(api_config(emu)) as api:
                objs = k8s.CustomObjectsApi(api)

                async def create_fails(body: dict[str, Any]) -> dict[str, Any]:
                    with pytest.raises(ApiException) as info:
                        await objs.create_namespaced_custom_object('kpi.dev', 'v1alpha1', NS, 'slos', body)
                    assert info.value.status == 422
                    status = status_body(info.value)
                    assert status['kind'] == 'Status' and status['reason'] == 'Invalid' and status['code'] == 422
                    return status

                wrong_type = slo('bad-type')
                wrong_type['spec']['objective'] = 'high'
                status = await create_fails(wrong_type)
                assert status['message'].startswith('SLO.kpi.dev "bad-type" is invalid: spec.objective: Invalid value')
                assert 'must be of type number' in status['message']
                assert [c['field'] for c in status['details']['causes']] == ['spec.objective']

                unknown = slo('bad-field')
                unknown['spec']['objectiv'] = 99
                status = await create_fails(unknown)
                assert 'unknown field "spec.objectiv"' in status['message']
                assert [c['field'] for c in status['details']['causes']] == ['spec.objectiv']

                out_of_range = slo('bad-range', objective=120)
                status = await create_fails(out_of_range)
                assert 'spec.objective: Invalid value: 120' in status['message']
                assert 'less than or equal to 100' in status['message']

                missing = slo('bad-missing')
                del missing['spec']['kpi']
                missing['spec']['severity'] = 'urgent'
                status = await create_fails(missing)
                assert sorted(c['field'] for c in status['details']['causes']) == ['spec.kpi', 'spec.severity']
                assert 'spec.kpi: Required value' in status['message']
                assert 'spec.severity: Unsupported value: "urgent"' in status['message']

                # Nothing invalid was stored, and a valid body goes through (201, with the default).
                assert emu.list('slos') == []
                good = await objs.create_namespaced_custom_object('kpi.dev', 'v1alpha1', NS, 'slos', slo('good'))
                assert good['spec']['window'] == '30d'

                # A patch that would make the object invalid is refused; the object is unchanged.
                with pytest.raises(ApiException) as info:
                    await objs.patch_namespaced_custom_object(
                        'kpi.dev', 'v1alpha1', NS, 'slos', 'good', {'spec': {'window': 'a month'}},
                        _content_type='application/merge-patch+json')
                assert info.value.status == 422
                assert status_body(info.value)['details']['causes'][0]['field'] == 'spec.window'
                assert emu.get('slos', NS, 'good')['metadata']['resourceVersion'] == good['metadata']['resourceVersion']

            # The in-process helper refuses the same way.
            with pytest.raises(ApiError) as error:
                emu.create(wrong_type)
            assert error.value.code == 422 and error.value.causes[0]['field'] == 'spec.objective'
    run(scenario())


# --------------------------------------------------------------------------------------------------
# (d) deletion with kopf's finalizer completes; owned objects are garbage-collected.
# --------------------------------------------------------------------------------------------------

def test_delete_with_kopf_finalizer_completes_and_collects_owned_objects() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with KubeEmulator(crds=[SLO_CRD]) as emu:
            registry = tiny_operator(recorder, emu.server_url, with_delete=True)
            async with run_operator(registry, emu) as operator:
                emu.create(slo('checkout'))
                await wait_for(lambda: emu.get('slos', NS, 'checkout')['status']['phase'] == 'Ready', operator=operator)
                finalizers = emu.get('slos', NS, 'checkout')['metadata']['finalizers']
                assert finalizers == ['kopf.zalando.org/KopfFinalizerMarker']
                assert emu.get('prometheusrules', NS, 'checkout-rules') is not None

                async with k8s.ApiClient(api_config(emu)) as api:
                    answer = await k8s.CustomObjectsApi(api).delete_namespaced_custom_object(
                        'kpi.dev', 'v1alpha1', NS, 'slos', 'checkout')
                assert answer['metadata']['deletionTimestamp']  # kept: the finalizer blocks it

                await wait_for(lambda: emu.get('slos', NS, 'checkout') is None, operator=operator)
                assert recorder.calls['delete'] == 1
                assert recorder.calls['create'] == 1
                assert emu.get('prometheusrules', NS, 'checkout-rules') is None  # garbage-collected

                # The object's last version had the deletion timestamp and no finalizers left.
                history = emu.objects['kpi.dev/v1alpha1/slos', NS, 'checkout'].history
                assert history[-1] is None
                assert history[-2]['metadata']['deletionTimestamp'] and 'finalizers' not in history[-2]['metadata']
            assert emu.errors == []
    run(scenario())


# --------------------------------------------------------------------------------------------------
# (e) label selectors on list; watches from a resourceVersion, with selectors, watch=True.
# --------------------------------------------------------------------------------------------------

def test_label_selector_list() -> None:
    async def scenario() -> None:
        async with KubeEmulator(crds=[SLO_CRD]) as emu:
            emu.create(slo('a-gold', team='a', tier='gold'))
            emu.create(slo('a-silver', team='a', tier='silver'))
            emu.create(slo('b-gold', team='b', tier='gold'))
            emu.create(slo('plain'))
            other = slo('a-elsewhere', team='a', tier='gold')
            other['metadata']['namespace'] = 'other'
            emu.create(other)

            async with aiohttp.ClientSession(emu.server_url) as http:
                async def names(path: str, selector: str) -> list[str]:
                    async with http.get(path, params={'labelSelector': selector}) as response:
                        assert response.status == 200
                        return [item['metadata']['name'] for item in (await response.json())['items']]

                namespaced = '/apis/kpi.dev/v1alpha1/namespaces/default/slos'
                assert await names(namespaced, 'team=a,tier=gold') == ['a-gold']
                assert await names(namespaced, 'team==a') == ['a-gold', 'a-silver']
                assert await names(namespaced, 'team!=a') == ['b-gold', 'plain']
                assert await names(namespaced, 'tier in (gold, silver),team notin (b)') == ['a-gold', 'a-silver']
                assert await names(namespaced, '!team') == ['plain']
                # Cluster-wide, ordered by namespace, then name (as the API server's etcd keys are).
                assert await names('/apis/kpi.dev/v1alpha1/slos', 'team=a,tier=gold') == ['a-gold', 'a-elsewhere']

            async with k8s.ApiClient(api_config(emu)) as api:
                listed = await k8s.CustomObjectsApi(api).list_namespaced_custom_object(
                    'kpi.dev', 'v1alpha1', NS, 'slos', label_selector='tier=gold')
            assert [item['metadata']['name'] for item in listed['items']] == ['a-gold', 'b-gold']
            assert [o['metadata']['name'] for o in emu.list('slos', NS, labels={'team': 'b'})] == ['b-gold']
    run(scenario())


def test_watch_starts_from_resource_version_and_honours_selectors() -> None:
    async def scenario() -> None:
        async with KubeEmulator(crds=[SLO_CRD]) as emu:
            emu.create(slo('old-match', team='a'))
            emu.create(slo('old-other', team='b'))
            since = emu.resource_version

            async with k8s.ApiClient(api_config(emu)) as api:
                objs = k8s.CustomObjectsApi(api)
                # kubernetes_asyncio sends ?watch=True (capitalised); only later changes must come.
                response = await objs.list_namespaced_custom_object(
                    'kpi.dev', 'v1alpha1', NS, 'slos', watch=True, resource_version=since,
                    label_selector='team=a', timeout_seconds=10, _preload_content=False)
                emu.create(slo('new-other', team='b'))
                emu.create(slo('new-match', team='a'))
                emu.patch_object('slos', NS, 'old-other', {'metadata': {'labels': {'team': 'a'}}})  # starts matching
                emu.patch_object('slos', NS, 'old-match', {'metadata': {'labels': {'team': 'c'}}})  # stops matching
                emu.patch_object('slos', NS, 'new-match', {'status': {'phase': 'Ready'}}, subresource='status')
                emu.delete_object('slos', NS, 'new-match')

                events = []
                while len(events) < 5:
                    line = await response.content.readline()
                    assert line, f'the watch ended early after {events}'
                    event = json.loads(line)
                    events.append((event['type'], event['object']['metadata']['name']))
                response.close()
            assert events == [
                ('ADDED', 'new-match'),
                ('ADDED', 'old-other'),
                ('DELETED', 'old-match'),
                ('MODIFIED', 'new-match'),
                ('DELETED', 'new-match'),
            ]

            # Without a resourceVersion, a watch starts with the current objects (as the API does).
            async with aiohttp.ClientSession(emu.server_url) as http:
                params = {'watch': 'true', 'timeoutSeconds': '1', 'labelSelector': 'team=a'}
                async with http.get('/apis/kpi.dev/v1alpha1/slos', params=params) as response:
                    lines = [json.loads(line) for line in (await response.text()).splitlines()]
            assert [(e['type'], e['object']['metadata']['name']) for e in lines] == [('ADDED', 'old-other')]
    run(scenario())


# --------------------------------------------------------------------------------------------------
# (f) optimistic concurrency: a stale resourceVersion gets 409 (422 for a JSON-patch test).
# --------------------------------------------------------------------------------------------------

def test_stale_resource_version_conflicts() -> None:
    async def scenario() -> None:
        async with KubeEmulator(crds=[SLO_CRD]) as emu:
            async with aiohttp.ClientSession(emu.server_url) as http:
                path = '/apis/kpi.dev/v1alpha1/namespaces/default/slos'
                async with http.post(path, json=slo('checkout')) as response:
                    assert response.status == 201
                    stale = await response.json()
                async with http.get(f'{path}/missing') as response:
                    assert response.status == 404
                    assert (await response.json())['reason'] == 'NotFound'

                fresh = emu.patch_object('slos', NS, 'checkout', {'metadata': {'labels': {'touched': 'yes'}}})
                assert int(fresh['metadata']['resourceVersion']) > int(stale['metadata']['resourceVersion'])

                replacement = dict(stale, spec=dict(stale['spec'], objective=95))
                async with http.put(f'{path}/checkout', json=replacement) as response:
                    assert response.status == 409
                    assert (await response.json())['reason'] == 'Conflict'

                merge = {'metadata': {'resourceVersion': stale['metadata']['resourceVersion']}, 'spec': {'objective': 95}}
                headers = {'Content-Type': 'application/merge-patch+json'}
                async with http.patch(f'{path}/checkout', data=json.dumps(merge), headers=headers) as response:
                    assert response.status == 409

                ops = [{'op': 'test', 'path': '/metadata/resourceVersion', 'value': stale['metadata']['resourceVersion']},
                       {'op': 'replace', 'path': '/spec/objective', 'value': 95}]
                headers = {'Content-Type': 'application/json-patch+json'}
                async with http.patch(f'{path}/checkout', data=json.dumps(ops), headers=headers) as response:
                    assert response.status == 422

                options = {'preconditions': {'resourceVersion': stale['metadata']['resourceVersion']}}
                async with http.delete(f'{path}/checkout', json=options) as response:
                    assert response.status == 409

                assert emu.get('slos', NS, 'checkout')['spec']['objective'] == 99.9  # nothing applied

                # With the current resourceVersion, the same writes succeed.
                replacement['metadata']['resourceVersion'] = fresh['metadata']['resourceVersion']
                async with http.put(f'{path}/checkout', json=replacement) as response:
                    assert response.status == 200
                    replaced = await response.json()
                assert replaced['spec']['objective'] == 95
                assert replaced['metadata']['generation'] == 2
                assert 'touched' not in replaced['metadata'].get('labels', {})  # PUT replaces the object
    run(scenario())


# --------------------------------------------------------------------------------------------------
# (g) a separate process, reached through the kubeconfig it writes.
# --------------------------------------------------------------------------------------------------

def _read_ready_line(proc: subprocess.Popen[str], stderr: pathlib.Path, timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:  # exited
            break
        if line.startswith('READY '):
            return line.split(' ', 1)[1].strip()
    raise AssertionError(f'The emulator process did not get ready in {timeout}s. stderr:\n{stderr.read_text()}')


def test_subprocess_mode_with_kubeconfig(tmp_path: pathlib.Path) -> None:
    crds = tmp_path / 'crds'
    crds.mkdir()
    (crds / 'slo.yaml').write_text(yaml.safe_dump(SLO_CRD), encoding='utf-8')
    kubeconfig = tmp_path / 'kubeconfig'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get('PYTHONPATH')])))
    stderr = tmp_path / 'emulator.stderr'
    with stderr.open('w') as stderr_file, subprocess.Popen(
        [sys.executable, '-m', 'support.kube_emulator', '--port', '0',
         '--crds', str(crds), '--kubeconfig-out', str(kubeconfig)],
        cwd=TESTS_DIR, env=env, stdout=subprocess.PIPE, stderr=stderr_file, text=True,
    ) as proc:
        try:
            _check_emulator_process(proc, stderr, kubeconfig)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, stderr.read_text()  # a clean exit on SIGTERM


def _check_emulator_process(proc: subprocess.Popen[str], stderr: pathlib.Path, kubeconfig: pathlib.Path) -> None:
    url = _read_ready_line(proc, stderr, timeout=20)
    assert url.startswith('http://127.0.0.1:')
    assert yaml.safe_load(kubeconfig.read_text())['clusters'][0]['cluster']['server'] == url

    async def scenario() -> None:
        configuration = k8s.Configuration()
        await k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration,
                                          persist_config=False)
        assert configuration.host == url
        async with k8s.ApiClient(configuration) as api:
            objs = k8s.CustomObjectsApi(api)
            created = await objs.create_namespaced_custom_object('kpi.dev', 'v1alpha1', NS, 'slos', slo('remote'))
            assert created['metadata']['generation'] == 1 and created['metadata']['uid']
            fetched = await objs.get_namespaced_custom_object('kpi.dev', 'v1alpha1', NS, 'slos', 'remote')
            assert fetched['spec']['window'] == '30d'  # the CRD from --crds is enforced

            with pytest.raises(ApiException) as info:
                await objs.create_namespaced_custom_object('kpi.dev', 'v1alpha1', NS, 'slos',
                                                           slo('bad', objective=-1))
            assert info.value.status == 422
            assert 'spec.objective' in status_body(info.value)['message']

            # Typed clients get typed objects back (201 with a body), and /status is separate.
            apps = k8s.AppsV1Api(api)
            deployment = await apps.create_namespaced_deployment(NS, {
                'apiVersion': 'apps/v1', 'kind': 'Deployment',
                'metadata': {'name': 'checkout', 'labels': {'app': 'checkout'}},
                'spec': {'replicas': 2, 'selector': {'matchLabels': {'app': 'checkout'}},
                         'template': {'metadata': {'labels': {'app': 'checkout'}},
                                      'spec': {'containers': [{'name': 'app', 'image': 'checkout:1'}]}}},
                'status': {'replicas': 99},
            })
            assert isinstance(deployment, k8s.V1Deployment)
            assert deployment.metadata.generation == 1 and deployment.status is None  # create drops status
            patched = await apps.patch_namespaced_deployment_status(
                'checkout', NS, {'status': {'readyReplicas': 2, 'replicas': 2}, 'spec': {'replicas': 5}})
            assert patched.status.ready_replicas == 2
            assert patched.spec.replicas == 2 and patched.metadata.generation == 1
            scaled = await apps.patch_namespaced_deployment('checkout', NS, {'spec': {'replicas': 3}})
            assert scaled.spec.replicas == 3 and scaled.metadata.generation == 2
            assert scaled.status.ready_replicas == 2

            namespaces = await k8s.CoreV1Api(api).list_namespace()
            assert 'default' in [ns.metadata.name for ns in namespaces.items]
    run(scenario())


@pytest.mark.skipif(shutil.which('kubectl') is None, reason='kubectl (the client) is not installed')
def test_kubectl_applies_valid_and_refuses_invalid_manifests(tmp_path: pathlib.Path) -> None:
    async def kubectl(kubeconfig: pathlib.Path, *args: str, stdin: str = '') -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            'kubectl', '--kubeconfig', str(kubeconfig), '--cache-dir', str(tmp_path / 'kube-cache'), *args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await proc.communicate(stdin.encode())
        return proc.returncode or 0, out.decode(), err.decode()

    async def scenario() -> None:
        async with KubeEmulator(crds=[SLO_CRD]) as emu:
            kubeconfig = emu.write_kubeconfig(tmp_path / 'kubeconfig')

            # kubectl validates strictly by default (server-side: ?fieldValidation=Strict).
            typo = slo('typo')
            typo['spec']['objectiv'] = typo['spec'].pop('objective')
            code, _, err = await kubectl(kubeconfig, 'apply', '-f', '-', stdin=yaml.safe_dump(typo))
            assert code != 0
            assert 'The SLO "typo" is invalid' in err
            assert 'unknown field "spec.objectiv"' in err and 'spec.objective: Required value' in err
            assert emu.get('slos', NS, 'typo') is None

            code, out, err = await kubectl(kubeconfig, 'apply', '-f', '-', stdin=yaml.safe_dump(slo('checkout')))
            assert code == 0, err
            assert 'slo.kpi.dev/checkout created' in out
            code, out, err = await kubectl(kubeconfig, 'apply', '-f', '-', stdin=yaml.safe_dump(slo('checkout', 99.5)))
            assert code == 0, err
            assert emu.get('slos', NS, 'checkout')['spec']['objective'] == 99.5
            assert emu.get('slos', NS, 'checkout')['metadata']['generation'] == 2

            code, out, err = await kubectl(kubeconfig, 'get', 'slos', '-n', NS, '-o', 'json')
            assert code == 0, err
            assert [item['metadata']['name'] for item in json.loads(out)['items']] == ['checkout']
    run(scenario())
