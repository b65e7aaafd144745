"""Two replicas, one actor: ``kpi-operator run --leader-election`` as real processes against the emulated API.

Each replica is the shipped command in a process of its own; the emulated API runs in a third (fixtures of
``test_run_subprocess``) and serves ``coordination.k8s.io/v1`` Leases with resourceVersions and 409 Conflicts, as
the API server does. Which replica acts is read from the Lease (its ``holderIdentity``, against the identity each
process logs), from each replica's log and from its ``/metrics`` (``kpi_operator_leader``, reconcile counts).

Short lease settings keep the tests quick: a 3s lease, a 2s renew deadline, a 0.5s retry period. The time
bounds asserted follow from them (see each test); the margin covers request latency and the tests' polling.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, Union

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from e2e.test_run_subprocess import (  # noqa: F401 (fixtures)
    NAMESPACE,
    api,
    emulator,
    free_port,
    get_or_none,
    operator_command,
    parse_metrics,
    slo,
    start_operator,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

LEASE_NAMESPACE = "kpi-operator"
LEASE_NAME = "kpi-operator"
DURATION, RENEW_DEADLINE, RETRY = 3, 2.0, 0.5
MARGIN = 2.5  # seconds for request latency, process scheduling and this test's 0.05s polling


def election_flags(duration: int = DURATION, renew_deadline: float = RENEW_DEADLINE, retry: float = RETRY) -> list[str]:
    return [
        "--leader-election",
        "--leader-election-namespace", LEASE_NAMESPACE,
        "--leader-election-id", LEASE_NAME,
        "--leader-election-lease-duration", str(duration),
        "--leader-election-renew-deadline", str(renew_deadline),
        "--leader-election-retry-period", str(retry),
    ]


class Replica:
    """One ``kpi-operator run`` process and its metrics port."""

    def __init__(self, name: str, kubeconfig: Path, tmp_path: Path, *flags: str):
        self.name = name
        self.port = free_port()
        # No Prometheus: the evaluation loop's failures are logged and written as Unknown, by the leader only.
        unreachable = f"http://127.0.0.1:{free_port()}"
        self.process = start_operator(kubeconfig, unreachable, tmp_path / f"{name}.log", *flags, metrics_port=self.port)

    def log(self) -> str:
        return self.process.output()

    def identity(self) -> Optional[str]:
        found = re.search(r"leader election: Lease \S+, identity (\S+),", self.log())
        return found.group(1) if found else None

    def alive(self) -> bool:
        return self.process.popen.poll() is None

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{self.port}{path}") as response:
                return response.status, await response.text()

    async def metrics(self) -> dict[str, float]:
        status, text = await self.get("/metrics")
        assert status == 200, text
        return parse_metrics(text)


async def until(predicate: Callable[[], Union[Any, Awaitable[Any]]], timeout: float, message: str, *, alive: tuple[Replica, ...] = (), logs: tuple[Replica, ...] = ()) -> Any:
    """Poll every 0.05s until ``predicate`` is truthy; fail at once when a replica of ``alive`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        for replica in alive:
            assert replica.alive(), f"replica {replica.name} exited with {replica.process.popen.returncode}:\n{replica.process.tail()}"
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {r.name} ---\n{r.process.tail()}" for r in (*alive, *logs))
            raise AssertionError(f"timed out after {timeout}s waiting for {message}\n{tails}")
        await asyncio.sleep(0.05)


async def read_lease(api_client: client.ApiClient) -> Optional[dict[str, Any]]:
    try:
        response = await client.CoordinationV1Api(api_client).read_namespaced_lease(LEASE_NAME, LEASE_NAMESPACE, _preload_content=False)
        return await response.json()
    except ApiException as error:
        if error.status == 404:
            return None
        raise


async def holder(api_client: client.ApiClient) -> Optional[str]:
    lease = await read_lease(api_client)
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or None


async def rule(custom: client.CustomObjectsApi, name: str) -> Optional[dict[str, Any]]:
    return await get_or_none(custom, "monitoring.coreos.com", "v1", "prometheusrules", name)


def stop_all(*replicas: Replica) -> None:
    for replica in replicas:
        replica.process.kill()


@pytest.mark.asyncio
async def test_one_replica_of_two_reconciles_and_the_standby_takes_over_within_the_lease_after_a_kill(
    emulator: Path, api: client.ApiClient, tmp_path: Path
) -> None:
    replicas = (Replica("a", emulator, tmp_path, *election_flags()), Replica("b", emulator, tmp_path, *election_flags()))
    try:
        custom = client.CustomObjectsApi(api)
        await until(lambda: all(r.identity() for r in replicas), 60, "both replicas to log their identity", alive=replicas)
        assert replicas[0].identity() != replicas[1].identity()

        # Both start at once and race for the absent Lease: exactly one holds it, the other stands by.
        by_identity = {r.identity(): r for r in replicas}
        holder_id = await until(lambda: holder(api), 60, "a holder in the Lease", alive=replicas)
        assert holder_id in by_identity, (holder_id, list(by_identity))
        leader = by_identity[holder_id]
        (standby,) = (r for r in replicas if r is not leader)
        await until(lambda: f"is held by {holder_id}" in standby.log(), 30, "the standby to report who leads", alive=replicas)

        # Only the leader reconciles: the rule is written, by the leader.
        await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, "slos", slo("first"))
        await until(lambda: rule(custom, "first"), 60, "PrometheusRule first", alive=replicas)
        await until(lambda: "PrometheusRule shop/first created" in leader.log(), 30, "the leader to log its write", alive=replicas)
        leader_metrics, standby_metrics = await leader.metrics(), await standby.metrics()
        assert leader_metrics["kpi_operator_leader"] == 1 and leader_metrics.get("kpi_operator_reconciles_total", 0) >= 1
        assert standby_metrics["kpi_operator_leader"] == 0
        assert standby_metrics.get("kpi_operator_reconciles_total", 0) == 0, "the standby reconciled"
        assert standby_metrics.get("kpi_operator_status_patches_total", 0) == 0, "the standby wrote a status"
        assert standby_metrics.get("kpi_operator_evaluation_cycles_total", 0) == 0, "the standby evaluated"
        assert "PrometheusRule" not in standby.log() and "acquired the leader Lease" not in standby.log(), standby.log()
        assert await standby.get("/healthz") == (200, "standby\n"), "a standby is alive and ready to take over"
        lease = await read_lease(api)
        assert lease is not None
        assert lease["spec"]["leaseDurationSeconds"] == DURATION and lease["spec"]["leaseTransitions"] == 0

        # kill -9: no release. The standby saw the leader's last renewal (sent at R, before the kill at K; the
        # leader was alive at K, so K < R + RENEW_DEADLINE) no earlier than it was written, and takes over one lease
        # duration after that, at its next read: R + DURATION <= takeover <= K + DURATION + RETRY (+ latency).
        assert leader.alive()
        killed = time.monotonic()
        os.killpg(leader.process.pid, signal.SIGKILL)
        await until(lambda: _holder_is(api, standby.identity()), DURATION + RETRY + MARGIN + 5, "the standby to take the Lease", alive=(standby,))
        took = time.monotonic() - killed
        assert DURATION - RENEW_DEADLINE < took <= DURATION + RETRY + MARGIN, f"took over {took:.2f}s after the kill"
        lease = await read_lease(api)
        assert lease is not None and lease["spec"]["leaseTransitions"] == 1

        # The new leader reconciles what is created now.
        await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, "slos", slo("second"))
        await until(lambda: rule(custom, "second"), 60, "PrometheusRule second", alive=(standby,))
        await until(lambda: "PrometheusRule shop/second created" in standby.log(), 30, "the new leader to log its write", alive=(standby,))
        assert (await standby.metrics())["kpi_operator_leader"] == 1

        # A graceful stop releases the Lease: no holder, a one-second duration.
        code = await standby.process.stop(signal.SIGTERM)
        assert code == 0, f"exit code {code}:\n{standby.process.tail()}"
        lease = await read_lease(api)
        assert lease is not None and lease["spec"].get("holderIdentity") in (None, "") and lease["spec"]["leaseDurationSeconds"] == 1
        assert "released the leader Lease" in standby.log()
        assert "Traceback" not in standby.log(), standby.log()
    finally:
        stop_all(*replicas)


async def _holder_is(api_client: client.ApiClient, identity: Optional[str]) -> bool:
    return identity is not None and await holder(api_client) == identity


@pytest.mark.asyncio
async def test_a_graceful_stop_hands_the_lease_over_at_the_standbys_next_read(emulator: Path, api: client.ApiClient, tmp_path: Path) -> None:
    """With a 30s lease a standby could only take over within seconds because the leader released it."""
    flags = election_flags(duration=30, renew_deadline=20.0, retry=RETRY)
    first = Replica("first", emulator, tmp_path, *flags)
    second: Optional[Replica] = None
    third: Optional[Replica] = None
    try:
        await until(lambda: first.identity() and _holder_is(api, first.identity()), 60, "the first replica to lead", alive=(first,))
        second = Replica("second", emulator, tmp_path, *flags)
        await until(lambda: "standing by" in second.log(), 60, "the second replica to stand by", alive=(first, second))
        stopped = time.monotonic()
        code = await first.process.stop(signal.SIGTERM)
        assert code == 0, f"exit code {code}:\n{first.process.tail()}"
        await until(lambda: _holder_is(api, second.identity()), 30, "the second replica to take the Lease", alive=(second,))
        took = time.monotonic() - stopped
        assert took <= RETRY + MARGIN + 5, f"took over {took:.2f}s after SIGTERM (a 30s lease: the release did not work)"
        assert "released the leader Lease" in first.log() and "Traceback" not in first.log(), first.log()
        custom = client.CustomObjectsApi(api)
        await custom.create_namespaced_custom_object("kpi.dev", "v1alpha1", NAMESPACE, "slos", slo("handed-over"))
        await until(lambda: rule(custom, "handed-over"), 60, "PrometheusRule handed-over", alive=(second,))

        # A standby stops on SIGTERM at once and leaves the Lease alone.
        third = Replica("third", emulator, tmp_path, *flags)
        await until(lambda: "standing by" in third.log(), 60, "the third replica to stand by", alive=(second, third))
        code = await third.process.stop(signal.SIGTERM, timeout=10)
        assert code == 0, f"exit code {code}:\n{third.process.tail()}"
        assert "stopped while standing by" in third.log() and "Traceback" not in third.log(), third.log()
        assert await _holder_is(api, second.identity())
    finally:
        stop_all(first, *(r for r in (second, third) if r is not None))


@pytest.mark.asyncio
async def test_a_leader_whose_lease_is_taken_stops_at_once_and_exits(emulator: Path, api: client.ApiClient, tmp_path: Path) -> None:
    """Another holder in the Lease (the leader stalled, a standby took over): the leader exits at its next read."""
    replica = Replica("leader", emulator, tmp_path, *election_flags())
    try:
        await until(lambda: replica.identity() and _holder_is(api, replica.identity()), 60, "the replica to lead", alive=(replica,))
        lease = await read_lease(api)
        assert lease is not None
        lease["spec"]["holderIdentity"] = "intruder_00000000"
        lease["spec"]["leaseDurationSeconds"] = 3600
        await client.CoordinationV1Api(api).replace_namespaced_lease(LEASE_NAME, LEASE_NAMESPACE, lease)
        taken = time.monotonic()
        await until(lambda: not replica.alive(), RETRY + MARGIN + 5, "the replica to exit", logs=(replica,))
        assert time.monotonic() - taken <= RETRY + MARGIN + 5
        assert replica.process.popen.returncode == 1
        log = replica.log()
        assert "lost the leader Lease kpi-operator/kpi-operator: the Lease names another holder (intruder_00000000)" in log, log
        assert await holder(api) == "intruder_00000000", "a replica that lost must not write the Lease again"
    finally:
        stop_all(replica)


@pytest.mark.asyncio
async def test_a_leader_that_cannot_renew_stops_at_its_renew_deadline(emulator: Path, api: client.ApiClient, tmp_path: Path) -> None:
    """The API server stops answering (its process is stopped): requests hang, and the leader exits once its
    renew deadline has passed since its last renewal, before the Lease could expire for anyone else."""
    replica = Replica("leader", emulator, tmp_path, *election_flags())
    emulator_pid = _emulator_pid(emulator)
    try:
        await until(lambda: replica.identity() and _holder_is(api, replica.identity()), 60, "the replica to lead", alive=(replica,))
        os.kill(emulator_pid, signal.SIGSTOP)
        frozen = time.monotonic()
        await until(lambda: not replica.alive(), RENEW_DEADLINE + MARGIN + 5, "the replica to exit", logs=(replica,))
        assert time.monotonic() - frozen <= RENEW_DEADLINE + MARGIN + 5
        assert replica.process.popen.returncode == 1
        assert "not renewed within the renew deadline of 2.0s" in replica.log(), replica.log()
    finally:
        os.kill(emulator_pid, signal.SIGCONT)
        stop_all(replica)


def _emulator_pid(kubeconfig: Path) -> int:
    """The emulator process that wrote ``kubeconfig`` (by its command line: the fixture yields only the file)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kpi_operator_devtools.kube_emulator" in argv and str(kubeconfig).encode() in argv:
            return int(entry.name)
    raise AssertionError(f"no emulator process for {kubeconfig}")


def test_leader_election_with_kopf_peering_is_a_usage_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_OPERATOR_")}
    result = subprocess.run(
        [*operator_command(), "run", "--leader-election", "--peering", "--kubeconfig", str(tmp_path / "absent"), "--metrics-port", "-1"],
        capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "--leader-election and --peering exclude each other" in result.stderr and "Traceback" not in result.stderr, result.stderr
