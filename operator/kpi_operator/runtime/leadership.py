"""Leader election's I/O: read and write the Lease through ``adapters.kube``; the decisions are ``election``'s.

``LeaderElector.acquire`` stands by until this replica holds the Lease; ``keep`` renews it every retry period and
returns only when leadership is lost (not renewed within the renew deadline, or another holder in the Lease);
``release`` lets it go on a graceful stop. ``kpi-operator run`` starts kopf (and so the evaluation loop) only
after ``acquire``, and exits the process the moment ``keep`` returns: a replica that is not sure it leads must
not act, not even for the seconds a graceful shutdown takes.

Every request is bounded in time: a hung request must not keep a leader from noticing its renew deadline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, Union

from ..adapters.kube import KubeClient, KubeError
from ..election import (
    UNREADABLE,
    Action,
    LeaseRecord,
    Observation,
    Timing,
    claimed_spec,
    decide,
    lease_body,
    observe,
    released_spec,
)
from ..election.lease import Unreadable
from .config import OperatorConfig
from .telemetry import Telemetry

logger = logging.getLogger("kpi_operator.leadership")

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_identity() -> str:
    """The pod's name (``HOSTNAME`` in a pod) and a random suffix: a restarted container is a new candidate,
    never mistaken for the holder it was before it crashed."""
    host = os.environ.get("HOSTNAME") or socket.gethostname() or "kpi-operator"
    return f"{host}_{secrets.token_hex(4)}"


def lease_namespace(configured: Optional[str], service_account_namespace: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """The configured namespace, else the pod's own (from its service account), else ``default``."""
    if configured:
        return configured
    try:
        return service_account_namespace.read_text().strip() or "default"
    except OSError:
        return "default"


class LeaderElector:
    """One candidate for one Lease. ``clock`` is monotonic (decisions), ``wall`` is Unix time (what the Lease says)."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        timing: Timing,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing
        self.clock = clock
        self.wall = wall
        self.renewed_at: Optional[float] = None  # when the last successful acquire or renewal was sent
        self.observation: Optional[Observation] = None
        self._read: Optional[dict[str, Any]] = None  # the Lease as last read, for writes with its resourceVersion
        self._standby_holder: Optional[str] = None  # the holder last reported while standing by (log once each)
        self.lost_because = ""

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def leading(self) -> bool:
        return self.renewed_at is not None

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Stand by until this replica holds the Lease (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            action = await self._bounded_round(self.timing.renew_deadline)
            if action in (Action.ACQUIRE, Action.RENEW) and self.leading:
                return True
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.timing.retry_period)
            except asyncio.TimeoutError:
                pass
        return False

    async def keep(self) -> str:
        """Renew every retry period; return the moment leadership is lost, with the reason."""
        while True:
            if self.renewed_at is None:
                return self.lost_because or "this replica does not hold it"
            remaining = self.renewed_at + self.timing.renew_deadline - self.clock()
            if remaining <= 0:
                self._lose(f"it was not renewed within the renew deadline of {self.timing.renew_deadline}s")
                continue
            await self._bounded_round(remaining)
            if self.renewed_at is None:
                continue
            remaining = self.renewed_at + self.timing.renew_deadline - self.clock()
            await asyncio.sleep(max(0.0, min(self.timing.retry_period, remaining)))

    async def release(self) -> bool:
        """Give the Lease up (holder empty, duration one second) if this replica still holds it, so a standby
        takes over at its next read. Best effort: on failure the Lease simply expires."""
        if not self.leading or self._read is None:
            return False
        self.renewed_at = None
        record = LeaseRecord.from_lease(self._read)
        if record.holder != self.identity:
            return False
        body = lease_body(self.namespace, self.name, released_spec(record, self.wall()), self._read)
        try:
            await asyncio.wait_for(self.kube.replace_lease(body), timeout=self.timing.renew_deadline)
        except (KubeError, asyncio.TimeoutError) as error:
            logger.warning("could not release the leader Lease %s (%s); it expires by itself", self.where, str(error) or "timed out")
            return False
        logger.info("released the leader Lease %s", self.where)
        return True

    async def _bounded_round(self, timeout: float) -> Action:
        """One round, at most ``timeout`` seconds; a leader whose round cannot finish in time has lost."""
        try:
            return await asyncio.wait_for(self._round(), timeout=timeout)
        except asyncio.TimeoutError:
            if self.leading:
                self._lose(f"it was not renewed within the renew deadline of {self.timing.renew_deadline}s (the API server did not answer in time)")
                return Action.LOST
            logger.warning("reading the leader Lease %s timed out after %.1fs", self.where, timeout)
            return Action.STANDBY

    async def _round(self) -> Action:
        """Read the Lease, decide, write what the decision needs. Returns the decision."""
        lease: Union[LeaseRecord, None, Unreadable]
        try:
            read = await self.kube.get_lease(self.namespace, self.name)
        except KubeError as error:
            logger.warning("reading the leader Lease %s failed: %s", self.where, error)
            read, lease = None, UNREADABLE
        else:
            lease = LeaseRecord.from_lease(read) if read is not None else None
            self._read = read
            self.observation = observe(self.observation, lease, self.clock())
        now = self.clock()
        observed_at = self.observation.changed_at if self.observation is not None else now
        action = decide(lease, self.identity, observed_at=observed_at, renewed_at=self.renewed_at, now=now, renew_deadline=self.timing.renew_deadline)
        if action in (Action.ACQUIRE, Action.RENEW):
            assert not isinstance(lease, Unreadable)
            await self._claim(lease, read, action)
        elif action is Action.LOST:
            if isinstance(lease, LeaseRecord) and lease.holder != self.identity:
                self._lose(f"the Lease names another holder ({lease.holder or 'none: released'})")
            else:
                self._lose(f"it was not renewed within the renew deadline of {self.timing.renew_deadline}s")
        elif action is Action.STANDBY and isinstance(lease, LeaseRecord) and lease.holder != self._standby_holder:
            self._standby_holder = lease.holder
            logger.info(
                "standing by: the leader Lease %s is held by %s (this replica is %s); taking over if it is not renewed for %ss",
                self.where, lease.holder, self.identity, lease.duration,
            )
        return action

    def _lose(self, because: str) -> None:
        self.renewed_at = None
        self.lost_because = because

    async def _claim(self, lease: Optional[LeaseRecord], read: Optional[dict[str, Any]], action: Action) -> None:
        """Create or replace the Lease with this replica as holder, against the ``resourceVersion`` read."""
        body = lease_body(self.namespace, self.name, claimed_spec(lease, self.identity, self.timing.lease_duration, self.wall()), read)
        sent = self.clock()
        try:
            written = await (self.kube.create_lease(body) if read is None else self.kube.replace_lease(body))
        except KubeError as error:
            level = logging.INFO if error.status == 409 and not self.leading else logging.WARNING
            logger.log(level, "%s the leader Lease %s failed: %s", "renewing" if action is Action.RENEW else "taking", self.where, error)
            return
        was_leading = self.leading
        self.renewed_at = sent
        self._read = written
        self.observation = observe(self.observation, LeaseRecord.from_lease(written), self.clock())
        if not was_leading:
            record = LeaseRecord.from_lease(written)
            logger.info("acquired the leader Lease %s as %s (transitions: %d)", self.where, self.identity, record.transitions)


def exit_at_once(message: str) -> None:
    """client-go's answer to a lost lease: log, and end the process now, without a graceful shutdown during which
    handlers or the evaluation loop could still write. The pod restarts and stands by."""
    logger.critical(message)
    for handler in logging.getLogger().handlers + logger.handlers:
        try:
            handler.flush()
        except Exception:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


async def run_as_leader(
    config: OperatorConfig,
    telemetry: Telemetry,
    operate: Callable[[], Awaitable[None]],
    *,
    on_lost: Callable[[str], None] = exit_at_once,
) -> None:
    """Stand by until this replica holds the Lease, then ``operate()`` (kopf, with the evaluation loop) while the
    Lease is renewed; when ``operate`` returns (kopf stopped on SIGTERM), release the Lease so a standby takes
    over at its next read.

    SIGTERM and SIGINT end the wait of a standby; once the Lease is held, kopf handles them (its handlers are
    installed as it starts; in the moment between, a signal simply ends the process and the Lease expires). The
    renewing task is created before kopf starts, so kopf's shutdown, which cancels the tasks created after its
    start, leaves it alone until kopf has stopped.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            signals.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests), or no signals here
            pass
    kube = await KubeClient.connect(config.kubeconfig)
    timing = config.election_timing
    elector = LeaderElector(kube, lease_namespace(config.leader_election_namespace), config.leader_election_id, own_identity(), timing)
    logger.info(
        "leader election: Lease %s, identity %s, lease duration %ss, renew deadline %ss, retry period %ss",
        elector.where, elector.identity, timing.lease_duration, timing.renew_deadline, timing.retry_period,
    )
    try:
        telemetry.stand_by()
        try:
            acquired = await elector.acquire(stop)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
        if not acquired or stop.is_set():
            await elector.release()
            logger.info("stopped while standing by for the leader Lease %s", elector.where)
            return
        telemetry.lead()

        def lost(task: "asyncio.Task[str]") -> None:
            if task.cancelled():
                return
            error = task.exception()
            because = task.result() if error is None else f"renewing it failed unexpectedly ({error!r})"
            on_lost(f"lost the leader Lease {elector.where}: {because}. Stopping at once: exiting so that this replica restarts as a standby")

        keeper = asyncio.create_task(elector.keep(), name="kpi-operator-leader-lease")
        keeper.add_done_callback(lost)
        try:
            await operate()
        finally:
            keeper.remove_done_callback(lost)
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await elector.release()
    finally:
        await kube.close()
