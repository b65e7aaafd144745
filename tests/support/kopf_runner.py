"""
Run a kopf operator in-process against the emulated Kubernetes API (``support.kube_emulator``).

WHY a thread with its own event loop: ``kopf.operator()`` treats every asyncio task created after
its start as one of its own and cancels (or waits ~5 s for) them when it stops (see
``kopf._core.reactor.running.run_tasks``). On the emulator's loop, that would include the
emulator's request handlers and the test's own tasks. In a dedicated thread and loop kopf only
sees its own tasks, stops in well under a second, and a blocking handler cannot freeze the API.

WHY a login handler: kopf's default registry logs in with whatever ``$KUBECONFIG`` says; a test
registry (``kopf.OperatorRegistry()``) has no login handlers at all. :func:`run_operator` adds one
``@kopf.on.login`` handler to the given registry that points kopf at the emulator (plain http,
a dummy token). The project's handlers module can be loaded into a fresh registry with
:func:`load_registry` and run the same way.

Usage (handlers defined in the test, in their own registry)::

    registry = kopf.OperatorRegistry()

    @kopf.on.create('kpi.dev', 'v1alpha1', 'slos', registry=registry)
    async def created(patch, **_):
        patch.status['phase'] = 'Ready'

    async with KubeEmulator(crds=...) as emu, run_operator(registry, emu) as operator:
        emu.create(slo)
        await wait_for(lambda: emu.get('slos', 'default', 'x')['status']['phase'] == 'Ready',
                       operator=operator)
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import inspect
import logging
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any, TypeVar

import kopf

logger = logging.getLogger(__name__)

T = TypeVar('T')

LOGIN_HANDLER_ID = 'kube_emulator_login'
DUMMY_TOKEN = 'kube-emulator-dummy-token'

# One login handler per registry; its target URL can change between runs (one emulator per test).
_login_targets: weakref.WeakKeyDictionary[kopf.OperatorRegistry, dict[str, str]] = weakref.WeakKeyDictionary()


def fast_settings(settings: kopf.OperatorSettings | None = None) -> kopf.OperatorSettings:
    """
    kopf settings for tests: short backoffs and retries, so that a transient error costs
    a fraction of a second instead of kopf's production defaults (1 s to 60 s).
    Nothing else changes (e.g. log records are still not posted as events unless
    ``settings.posting.loggers`` is set; ``kopf.info()`` & co. are).
    """
    settings = settings if settings is not None else kopf.OperatorSettings()
    settings.networking.error_backoffs = [0.1, 0.2, 0.5, 1.0]
    settings.networking.request_timeout = 30
    settings.watching.reconnect_backoff = 0.1
    settings.watching.connect_timeout = 5
    settings.queueing.error_delays = [0.1, 0.2, 0.5, 1.0, 2.0]
    settings.queueing.exit_timeout = 0.5
    settings.execution.default_backoff = 0.5
    return settings


def point_login_at(registry: kopf.OperatorRegistry, server: str, *, token: str = DUMMY_TOKEN) -> None:
    """Make ``registry`` log in to ``server`` (adds one ``@kopf.on.login`` handler, once)."""
    target = _login_targets.get(registry)
    if target is None:
        target = {}

        @kopf.on.login(registry=registry, id=LOGIN_HANDLER_ID)
        async def login_to_emulator(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=target['server'], insecure=True, scheme='Bearer',
                                       token=target['token'], default_namespace='default')

        _login_targets[registry] = target
    target['server'] = server
    target['token'] = token


def load_registry(*module_names: str) -> kopf.OperatorRegistry:
    """
    A fresh registry with the handlers of the given modules (imported, or re-imported).

    WHY: ``@kopf.on...`` decorators register into kopf's default registry at import time;
    re-importing a module while a fresh registry is the default collects its handlers anew,
    so each test gets its own registry and the modules stay untouched.
    """
    registry = kopf.OperatorRegistry()
    previous = kopf.get_default_registry()
    kopf.set_default_registry(registry)
    try:
        for name in module_names:
            if name in sys.modules:
                importlib.reload(sys.modules[name])
            else:
                importlib.import_module(name)
    finally:
        kopf.set_default_registry(previous)
    return registry


@dataclasses.dataclass(eq=False)
class OperatorRun:
    """A kopf operator running in its own thread; yielded by :func:`run_operator`."""
    registry: kopf.OperatorRegistry
    settings: kopf.OperatorSettings
    server: str
    clusterwide: bool = True
    namespaces: Collection[str] = ()
    standalone: bool = True
    memo: Any = None
    error: BaseException | None = None
    ready_flag: threading.Event = dataclasses.field(default_factory=threading.Event)
    stop_flag: threading.Event = dataclasses.field(default_factory=threading.Event)
    finished: threading.Event = dataclasses.field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """Whether the operator is still running (it never exits on its own unless it fails)."""
        return not self.finished.is_set()

    def check(self) -> None:
        """Raise the operator's failure, if it has failed (or exited unexpectedly)."""
        if self.error is not None:
            raise RuntimeError(f'The kopf operator has failed: {self.error!r}') from self.error
        if self.finished.is_set() and not self.stop_flag.is_set():
            raise RuntimeError('The kopf operator has exited unexpectedly.')

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        try:
            await kopf.operator(
                registry=self.registry, settings=self.settings, memo=self.memo,
                clusterwide=self.clusterwide, namespaces=self.namespaces, standalone=self.standalone,
                stop_flag=self.stop_flag, ready_flag=self.ready_flag,
            )
        except asyncio.CancelledError:
            pass
        except BaseException as e:  # reported to the test by check() and at exit
            self.error = e
        finally:
            self.finished.set()

    def _cancel(self) -> None:
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                self._loop.call_soon_threadsafe(self._task.cancel)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop via kopf's stop flag; cancel the operator task if it does not exit in time."""
        self.stop_flag.set()
        if self.thread is None:
            return
        await asyncio.to_thread(self.thread.join, timeout)
        if self.thread.is_alive():
            logger.warning('The kopf operator did not stop in %.1fs; cancelling it.', timeout)
            self._cancel()
            await asyncio.to_thread(self.thread.join, timeout)
        if self.thread.is_alive():
            raise RuntimeError('The kopf operator thread did not exit.')


@contextlib.asynccontextmanager
async def run_operator(
        registry: kopf.OperatorRegistry,
        target: Any,
        *,
        settings: kopf.OperatorSettings | None = None,
        clusterwide: bool = True,
        namespaces: Collection[str] = (),
        standalone: bool = True,
        memo: Any = None,
        startup_timeout: float = 20.0,
        shutdown_timeout: float = 10.0,
) -> AsyncIterator[OperatorRun]:
    """
    Run ``kopf.operator(registry=registry, ...)`` against ``target`` until the block exits.

    ``target`` is a running :class:`~support.kube_emulator.KubeEmulator` (anything with
    ``server_url``) or a URL. Cluster-wide by default; ``standalone=True`` skips peering (the
    emulator serves kopf's peering resources, so ``standalone=False`` works too). ``settings``
    default to :func:`fast_settings`. Waits until kopf reports readiness (startup handlers done).
    On exit, stops kopf and re-raises its failure, if any.
    """
    server = str(getattr(target, 'server_url', target)).rstrip('/')
    point_login_at(registry, server)
    run = OperatorRun(
        registry=registry, settings=fast_settings(settings), server=server,
        clusterwide=clusterwide and not namespaces, namespaces=tuple(namespaces),
        standalone=standalone, memo=memo if memo is not None else kopf.Memo(),
    )
    run.thread = threading.Thread(target=run._thread_main, name='kopf-operator', daemon=True)
    run.thread.start()
    try:
        await wait_for(lambda: run.ready_flag.is_set() or run.finished.is_set(), timeout=startup_timeout,
                       message='the kopf operator to start')
        run.check()
        yield run
    finally:
        await run.stop(timeout=shutdown_timeout)
    if run.error is not None:
        raise RuntimeError(f'The kopf operator has failed: {run.error!r}') from run.error


async def wait_for(
        predicate: Callable[[], T | Awaitable[T]],
        timeout: float = 10.0,
        *,
        interval: float = 0.02,
        message: str | None = None,
        operator: OperatorRun | None = None,
) -> T:
    """
    Poll ``predicate`` (sync or async) until it returns something truthy; return that value.

    Exceptions raised by the predicate count as "not yet" (e.g. a KeyError while a status field
    does not exist yet); the last one is chained to the ``TimeoutError`` at the deadline. With
    ``operator=``, a failed operator fails the wait at once instead of at the deadline.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: BaseException | None = None
    value: Any = None
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            last_error = None
        except Exception as e:
            value, last_error = None, e
        if value:
            return value
        if operator is not None:
            operator.check()
        if loop.time() >= deadline:
            what = message or getattr(predicate, '__name__', repr(predicate))
            raise TimeoutError(f'Waited {timeout}s for {what}; the last value: {value!r}') from last_error
        await asyncio.sleep(interval)
