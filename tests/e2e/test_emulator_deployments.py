"""
The emulated API's Deployment controller (``KubeEmulator(deployment_controller=True)``), over real HTTP: what the
real controller does to ReplicaSets, revisions and status, as clients (aiohttp here, and kubectl) see it.

The gate's rollback is a JSON Patch that writes an older ReplicaSet's template back to the Deployment; these tests
write the same patches (and ``kubectl rollout undo`` itself, when kubectl is installed) and check the renumbering
that follows. Expected values come from the real controller's rules (pkg/controller/deployment), not from this one.
"""
from __future__ import annotations

import asyncio
import copy
import json
import pathlib
import shutil
import subprocess
from typing import Any

import aiohttp
import pytest

from kpi_operator_devtools.deployment_controller import pod_template_hash
from support.kopf_runner import wait_for
from support.kube_emulator import KubeEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

NS = 'shop'
REVISION = 'deployment.kubernetes.io/revision'
CHANGE_CAUSE = 'kubernetes.io/change-cause'
DEPLOYMENTS = f'/apis/apps/v1/namespaces/{NS}/deployments'
REPLICASETS = f'/apis/apps/v1/namespaces/{NS}/replicasets'
NEVER = 3600.0  # a controller delay no test waits for: it ends with emu.run_controllers()


def container(image: str) -> dict[str, Any]:
    return {'name': 'checkout', 'image': image, 'ports': [{'containerPort': 8080, 'protocol': 'TCP'}],
            'resources': {'requests': {'cpu': '100m', 'memory': '64Mi'}}}


def deployment(name: str = 'checkout', image: str = 'checkout:v1', replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {
        'apiVersion': 'apps/v1', 'kind': 'Deployment',
        'metadata': {'name': name, 'namespace': NS, 'labels': {'app': name},
                     'annotations': {CHANGE_CAUSE: f'deploy {image}'}},
        'spec': {
            'replicas': replicas,
            'selector': {'matchLabels': {'app': name}},
            'template': {'metadata': {'labels': {'app': name, 'track': 'stable'}},
                         'spec': {'containers': [container(image)]}},
            **spec,
        },
    }


class Api:
    """Plain JSON over HTTP to the emulator, as a client sends it."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def request(self, method: str, path: str, body: Any = None, content_type: str = 'application/json',
                      expect: int = 200) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        async with self.session.request(method, self.base + path, data=data,
                                        headers={'Content-Type': content_type}) as response:
            result = await response.json()
            assert response.status == expect, result
            return result

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request('GET', path)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request('POST', DEPLOYMENTS, body, expect=201)

    async def merge(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.request('PATCH', f'{DEPLOYMENTS}/{name}', patch, 'application/merge-patch+json')

    async def json_patch(self, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.request('PATCH', f'{DEPLOYMENTS}/{name}', ops, 'application/json-patch+json')

    async def deployment(self, name: str = 'checkout') -> dict[str, Any]:
        return await self.get(f'{DEPLOYMENTS}/{name}')

    async def replicasets(self) -> dict[str, dict[str, Any]]:
        """The namespace's ReplicaSets by image (every test's templates differ by image only)."""
        items = (await self.get(REPLICASETS))['items']
        by_image = {rs['spec']['template']['spec']['containers'][0]['image']: rs for rs in items}
        assert len(by_image) == len(items), 'two ReplicaSets with one image'
        return by_image


class Running:
    def __init__(self, **options: Any) -> None:
        self.emu = KubeEmulator(deployment_controller=True, **options)

    async def __aenter__(self) -> tuple[KubeEmulator, Api]:
        await self.emu.__aenter__()
        self.session = aiohttp.ClientSession()
        return self.emu, Api(self.session, self.emu.server_url)

    async def __aexit__(self, *exc: Any) -> None:
        await self.session.close()
        await self.emu.__aexit__(*exc)


def revision(obj: dict[str, Any]) -> str | None:
    return (obj['metadata'].get('annotations') or {}).get(REVISION)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj['status']['conditions'] if c['type'] == type_)


def as_kubectl_sends_it(template: dict[str, Any]) -> dict[str, Any]:
    """A ReplicaSet's template as ``kubectl rollout undo`` writes it back: the hash label gone, and what a Go
    client's typed round trip adds (``creationTimestamp: null``, empty structs)."""
    result = copy.deepcopy(template)
    del result['metadata']['labels']['pod-template-hash']
    result['metadata']['creationTimestamp'] = None
    result['spec']['containers'][0]['env'] = []
    result['spec']['securityContext'] = {}
    return result


async def test_a_new_deployment_gets_replicaset_revision_1_owned_labelled_and_a_complete_status() -> None:
    async with Running() as (_, api):
        written = await api.create(deployment())
        assert written['metadata']['generation'] == 1 and 'status' not in written  # the write, as the API answers it

        dep = await api.deployment()
        [rs] = (await api.replicasets()).values()
        template_hash = rs['metadata']['labels']['pod-template-hash']
        assert rs['metadata']['name'] == f'checkout-{template_hash}'
        assert rs['metadata']['ownerReferences'] == [{
            'apiVersion': 'apps/v1', 'kind': 'Deployment', 'name': 'checkout', 'uid': dep['metadata']['uid'],
            'controller': True, 'blockOwnerDeletion': True}]
        assert rs['metadata']['labels'] == {'app': 'checkout', 'track': 'stable', 'pod-template-hash': template_hash}
        assert rs['spec']['selector'] == {'matchLabels': {'app': 'checkout', 'pod-template-hash': template_hash}}
        assert rs['spec']['template']['metadata']['labels']['pod-template-hash'] == template_hash
        assert rs['spec']['template']['spec'] == deployment()['spec']['template']['spec']
        # 3 replicas, maxSurge 25% (the default) rounded up: at most 4 pods during a rollout.
        assert rs['metadata']['annotations'] == {
            REVISION: '1', CHANGE_CAUSE: 'deploy checkout:v1',
            'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4'}
        assert rs['spec']['replicas'] == 3
        assert rs['status'] == {'replicas': 3, 'fullyLabeledReplicas': 3, 'readyReplicas': 3, 'availableReplicas': 3,
                                'observedGeneration': 1}

        assert revision(dep) == '1'
        assert {k: v for k, v in dep['status'].items() if k != 'conditions'} == {
            'observedGeneration': 1, 'replicas': 3, 'updatedReplicas': 3, 'readyReplicas': 3, 'availableReplicas': 3}
        assert condition(dep, 'Available')['status'] == 'True'
        assert condition(dep, 'Progressing')['status'] == 'True'
        assert condition(dep, 'Progressing')['reason'] == 'NewReplicaSetAvailable'
        assert rs['metadata']['name'] in condition(dep, 'Progressing')['message']


async def test_a_new_template_is_revision_2_and_restoring_revision_1s_template_renumbers_it_as_3() -> None:
    async with Running() as (emu, api):
        await api.create(deployment())
        await api.merge('checkout', {'metadata': {'annotations': {CHANGE_CAUSE: 'deploy checkout:v2'}},
                                     'spec': {'template': {'spec': {'containers': [container('checkout:v2')]}}}})
        dep = await api.deployment()
        rs = await api.replicasets()
        assert sorted(rs) == ['checkout:v1', 'checkout:v2']
        assert (revision(rs['checkout:v1']), revision(rs['checkout:v2']), revision(dep)) == ('1', '2', '2')
        assert (rs['checkout:v1']['spec']['replicas'], rs['checkout:v2']['spec']['replicas']) == (0, 3)
        assert rs['checkout:v1']['status'] == {'replicas': 0, 'observedGeneration': 2}  # scaling bumped its generation
        assert rs['checkout:v2']['metadata']['annotations'][CHANGE_CAUSE] == 'deploy checkout:v2'
        assert rs['checkout:v1']['metadata']['annotations'][CHANGE_CAUSE] == 'deploy checkout:v1'  # old ones keep theirs

        # What `kubectl rollout undo` sends (and the gate's rollback, less the annotations): a JSON Patch replacing
        # the template with revision 1's, and the annotations with that ReplicaSet's (the Deployment's revision kept).
        old = rs['checkout:v1']
        annotations = {REVISION: revision(dep), CHANGE_CAUSE: old['metadata']['annotations'][CHANGE_CAUSE]}
        before = emu.resource_version
        patched = await api.json_patch('checkout', [
            {'op': 'test', 'path': '/metadata/resourceVersion', 'value': dep['metadata']['resourceVersion']},
            {'op': 'replace', 'path': '/spec/template', 'value': as_kubectl_sends_it(old['spec']['template'])},
            {'op': 'replace', 'path': '/metadata/annotations', 'value': annotations},
        ])
        assert revision(patched) == '2'  # the response is the write; the controller's writes come after it

        dep = await api.deployment()
        rs = await api.replicasets()
        assert sorted(rs) == ['checkout:v1', 'checkout:v2']  # reused: no third ReplicaSet
        assert rs['checkout:v1']['metadata']['name'] == old['metadata']['name']
        assert rs['checkout:v1']['metadata']['uid'] == old['metadata']['uid']
        assert (revision(rs['checkout:v1']), revision(rs['checkout:v2']), revision(dep)) == ('3', '2', '3')
        assert rs['checkout:v1']['metadata']['annotations']['deployment.kubernetes.io/revision-history'] == '1'
        assert (rs['checkout:v1']['spec']['replicas'], rs['checkout:v2']['spec']['replicas']) == (3, 0)
        assert dep['status']['updatedReplicas'] == 3 and dep['status']['observedGeneration'] == dep['metadata']['generation'] == 3
        assert old['metadata']['name'] in condition(dep, 'Progressing')['message']

        # The controller's writes are writes like any other: new resourceVersions, and watch events, in order.
        params = {'watch': 'true', 'resourceVersion': before, 'timeoutSeconds': '1'}
        async with api.session.get(api.base + REPLICASETS, params=params) as response:
            events = [json.loads(line) for line in (await response.text()).splitlines() if line]
        seen = [(e['type'], e['object']['metadata']['name'], revision(e['object']), e['object']['spec']['replicas'])
                for e in events]
        v1, v2 = old['metadata']['name'], rs['checkout:v2']['metadata']['name']
        assert ('MODIFIED', v1, '3', 0) in seen and ('MODIFIED', v1, '3', 3) in seen and ('MODIFIED', v2, '2', 0) in seen
        assert all(int(e['object']['metadata']['resourceVersion']) > int(patched['metadata']['resourceVersion'])
                   for e in events)


async def test_a_paused_deployment_scales_but_makes_no_replicaset_for_a_new_template_until_resumed() -> None:
    async with Running() as (_, api):
        await api.create(deployment())
        await api.merge('checkout', {'spec': {'paused': True}})
        await api.merge('checkout', {'spec': {'template': {'spec': {'containers': [container('checkout:v2')]}}}})
        dep = await api.deployment()
        rs = await api.replicasets()
        assert sorted(rs) == ['checkout:v1'] and revision(dep) == '1'
        assert dep['status']['observedGeneration'] == dep['metadata']['generation'] == 3  # observed, not rolled out
        assert 'updatedReplicas' not in dep['status']  # 0: no ReplicaSet has the template (kubectl rollout status waits)
        assert (condition(dep, 'Progressing')['status'], condition(dep, 'Progressing')['reason']) == ('Unknown', 'DeploymentPaused')

        await api.merge('checkout', {'spec': {'replicas': 5}})  # scaling still applies, to the running ReplicaSet
        rs = await api.replicasets()
        assert sorted(rs) == ['checkout:v1'] and rs['checkout:v1']['spec']['replicas'] == 5
        assert rs['checkout:v1']['metadata']['annotations']['deployment.kubernetes.io/desired-replicas'] == '5'
        assert (await api.deployment())['status']['replicas'] == 5

        await api.merge('checkout', {'spec': {'paused': False}})
        dep = await api.deployment()
        rs = await api.replicasets()
        assert sorted(rs) == ['checkout:v1', 'checkout:v2']
        assert (revision(rs['checkout:v2']), revision(dep)) == ('2', '2')
        assert (rs['checkout:v1']['spec']['replicas'], rs['checkout:v2']['spec']['replicas']) == (0, 5)
        assert (condition(dep, 'Progressing')['status'], condition(dep, 'Progressing')['reason']) == ('True', 'NewReplicaSetAvailable')
        assert dep['status']['updatedReplicas'] == 5


async def test_generation_counts_spec_changes_only_and_is_observed_before_the_next_read_without_delay() -> None:
    async with Running() as (_, api):
        await api.create(deployment())
        await api.merge('checkout', {'metadata': {'annotations': {'team': 'payments'}}})
        dep = await api.deployment()
        assert dep['metadata']['generation'] == 1 and dep['status']['observedGeneration'] == 1

        # Someone else's status write changes no generation, and the controller puts its own status back.
        await api.request('PATCH', f'{DEPLOYMENTS}/checkout/status', {'status': {'replicas': 99}},
                          'application/merge-patch+json')
        dep = await api.deployment()
        assert dep['metadata']['generation'] == 1 and dep['status']['replicas'] == 3

        written = await api.merge('checkout', {'spec': {'replicas': 4}})
        assert written['metadata']['generation'] == 2 and written['status']['observedGeneration'] == 1
        dep = await api.deployment()
        assert dep['metadata']['generation'] == dep['status']['observedGeneration'] == 2
        assert dep['status']['replicas'] == 4 and revision(dep) == '1'  # scaling is no new revision


async def test_with_a_delay_the_lag_is_observable_and_writes_in_it_are_synced_together() -> None:
    async with Running(deployment_controller_delay=NEVER) as (emu, api):
        await api.create(deployment())
        dep = await api.deployment()
        assert 'status' not in dep and revision(dep) is None and await api.replicasets() == {}
        emu.run_controllers()
        assert (await api.deployment())['status']['observedGeneration'] == 1

        await api.merge('checkout', {'spec': {'template': {'spec': {'containers': [container('checkout:v2')]}}}})
        await api.merge('checkout', {'spec': {'template': {'spec': {'containers': [container('checkout:v3')]}}}})
        dep = await api.deployment()
        assert (dep['metadata']['generation'], dep['status']['observedGeneration']) == (3, 1)
        assert sorted(await api.replicasets()) == ['checkout:v1'] and revision(dep) == '1'

        emu.run_controllers()
        dep = await api.deployment()
        rs = await api.replicasets()
        assert dep['status']['observedGeneration'] == 3
        assert sorted(rs) == ['checkout:v1', 'checkout:v3']  # v2 was never seen by the controller
        assert (revision(rs['checkout:v3']), revision(dep)) == ('2', '2')


async def test_a_short_delay_ends_by_itself() -> None:
    async def observed(generation: int) -> bool:
        dep = await api.deployment()
        return dep.get('status', {}).get('observedGeneration') == dep['metadata']['generation'] == generation

    async with Running(deployment_controller_delay=0.2) as (_, api):
        await api.create(deployment())
        await wait_for(lambda: observed(1), timeout=10, message='the controller to observe generation 1')
        await api.merge('checkout', {'spec': {'template': {'spec': {'containers': [container('checkout:v2')]}}}})
        await wait_for(lambda: observed(2), timeout=10, message='the controller to observe generation 2')
        assert revision(await api.deployment()) == '2'
        assert sorted(await api.replicasets()) == ['checkout:v1', 'checkout:v2']


@pytest.mark.parametrize('limit, kept', [(2, ['checkout:v3', 'checkout:v4', 'checkout:v5']), (0, ['checkout:v5']),
                                         (None, [f'checkout:v{n}' for n in range(1, 6)])],
                         ids=['Two old ReplicaSets are kept with a limit of 2.', 'A limit of 0 keeps the current one only.',
                              'Without a limit, the default (10) keeps all five.'])
async def test_revision_history_limit_deletes_the_oldest_idle_replicasets(limit: int | None, kept: list[str]) -> None:
    async with Running() as (_, api):
        await api.create(deployment(**({} if limit is None else {'revisionHistoryLimit': limit})))
        for n in range(2, 6):
            await api.merge('checkout', {'spec': {'template': {'spec': {'containers': [container(f'checkout:v{n}')]}}}})
        rs = await api.replicasets()
        assert sorted(rs) == kept
        assert revision(rs['checkout:v5']) == '5' == revision(await api.deployment())


async def test_deleting_the_deployment_deletes_its_replicasets_and_a_deleted_replicaset_is_made_again() -> None:
    async with Running() as (_, api):
        await api.create(deployment())
        [rs] = (await api.replicasets()).values()
        await api.request('DELETE', f'{REPLICASETS}/{rs["metadata"]["name"]}')
        [again] = (await api.replicasets()).values()
        assert again['metadata']['name'] == rs['metadata']['name'] and again['metadata']['uid'] != rs['metadata']['uid']
        assert revision(again) == '1'  # no other ReplicaSet: the highest old revision is 0

        await api.request('DELETE', f'{DEPLOYMENTS}/checkout')
        assert await api.replicasets() == {}


async def test_a_name_taken_by_another_template_is_a_hash_collision() -> None:
    async with Running() as (emu, api):
        template = deployment()['spec']['template']
        squatter = {'apiVersion': 'apps/v1', 'kind': 'ReplicaSet',
                    'metadata': {'name': f'checkout-{pod_template_hash(template)}', 'namespace': NS},
                    'spec': {'replicas': 0, 'selector': {'matchLabels': {'app': 'other'}},
                             'template': {'metadata': {'labels': {'app': 'other'}},
                                          'spec': {'containers': [container('other:v1')]}}}}
        emu.create(squatter)
        await api.create(deployment())
        dep = await api.deployment()
        assert dep['status']['collisionCount'] == 1
        rs = await api.replicasets()
        assert rs['checkout:v1']['metadata']['name'] == f'checkout-{pod_template_hash(template, 1)}'
        assert revision(rs['checkout:v1']) == '1' and 'ownerReferences' not in rs['other:v1']['metadata']


async def test_the_controller_is_off_by_default() -> None:
    async with KubeEmulator() as emu:
        emu.create(deployment())
        dep = emu.get('deployments', NS, 'checkout')
        assert 'status' not in dep and revision(dep) is None and emu.list('replicasets', NS) == []


# --------------------------------------------------------------------------------------------------
# kubectl's own rollout commands against it.
# --------------------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which('kubectl') is None, reason='kubectl (the client) is not installed')
async def test_kubectl_rollout_status_history_and_undo(tmp_path: pathlib.Path) -> None:
    async def kubectl(*args: str, stdin: str = '') -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            'kubectl', '--kubeconfig', str(kubeconfig), '--cache-dir', str(tmp_path / 'cache'), '-n', NS, *args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await proc.communicate(stdin.encode())
        return proc.returncode or 0, out.decode(), err.decode()

    def history(out: str) -> list[list[str]]:
        lines = [line.split(None, 1) for line in out.splitlines()[2:] if line.strip()]  # after the header
        return [[cells[0], cells[1].strip() if len(cells) > 1 else ''] for cells in lines]

    async with Running(deployment_controller_delay=NEVER) as (emu, api):
        kubeconfig = emu.write_kubeconfig(tmp_path / 'kubeconfig', namespace=NS)
        await api.create(deployment())
        emu.run_controllers()
        code, out, err = await kubectl('rollout', 'status', 'deployment/checkout', '--timeout=20s')
        assert code == 0 and 'successfully rolled out' in out, (out, err)

        # A new image, with the controller lagging: rollout status waits until the controller has observed it.
        await api.merge('checkout', {'metadata': {'annotations': {CHANGE_CAUSE: 'deploy checkout:v2'}},
                                     'spec': {'template': {'spec': {'containers': [container('checkout:v2')]}}}})
        proc = await asyncio.create_subprocess_exec(
            'kubectl', '--kubeconfig', str(kubeconfig), '--cache-dir', str(tmp_path / 'cache'), '-n', NS,
            'rollout', 'status', 'deployment/checkout', '--timeout=20s',
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b'Waiting for deployment spec update to be observed' in first
        emu.run_controllers()
        rest, err_bytes = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0 and b'successfully rolled out' in rest, (rest, err_bytes)

        code, out, err = await kubectl('rollout', 'history', 'deployment/checkout')
        assert code == 0, err
        assert history(out) == [['1', 'deploy checkout:v1'], ['2', 'deploy checkout:v2']]

        code, out, err = await kubectl('rollout', 'undo', 'deployment/checkout')
        assert code == 0 and 'rolled back' in out, (out, err)
        emu.run_controllers()
        code, out, err = await kubectl('rollout', 'history', 'deployment/checkout')
        assert code == 0, err
        assert history(out) == [['2', 'deploy checkout:v2'], ['3', 'deploy checkout:v1']]
        dep = await api.deployment()
        assert revision(dep) == '3' and dep['metadata']['annotations'][CHANGE_CAUSE] == 'deploy checkout:v1'
        assert sorted(await api.replicasets()) == ['checkout:v1', 'checkout:v2']

        code, out, err = await kubectl('rollout', 'undo', 'deployment/checkout', '--to-revision=2')
        assert code == 0, (out, err)
        emu.run_controllers()
        code, out, err = await kubectl('rollout', 'history', 'deployment/checkout')
        assert history(out) == [['3', 'deploy checkout:v1'], ['4', 'deploy checkout:v2']]

        code, out, err = await kubectl('rollout', 'pause', 'deployment/checkout')
        assert code == 0, err
        emu.run_controllers()
        code, out, err = await kubectl('rollout', 'undo', 'deployment/checkout')
        assert code != 0 and 'cannot rollback a paused deployment' in err
