"""The whole loop for end-to-end tests: emulated Kubernetes API, the project's kopf handlers, a real Prometheus.

``operator_env`` starts the emulator (enforcing ``crds/``), loads ``kpi_operator.runtime.handlers`` into a fresh kopf
registry and runs it against the emulator, and syncs every PrometheusRule into the real Prometheus the way
prometheus-operator would (``kpi_operator_devtools.rule_sync``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import kopf

from kpi_operator.runtime.config import OperatorConfig
from kpi_operator.runtime.handlers import operator_memo, register
from kpi_operator.runtime.state import Runtime
from kpi_operator_devtools.prometheus_server import PrometheusServer
from kpi_operator_devtools.rule_sync import RuleSync
from support.kopf_runner import OperatorRun, run_operator, wait_for
from support.kube_emulator import KubeEmulator, load_crds

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"


@dataclasses.dataclass
class Env:
    emu: KubeEmulator
    prom: PrometheusServer
    runtime: Runtime
    operator: OperatorRun
    sync: RuleSync
    kubeconfig: Path

    async def wait(self, predicate: Any, timeout: float = 30.0, message: Optional[str] = None) -> Any:
        return await wait_for(predicate, timeout=timeout, interval=0.1, message=message, operator=self.operator)

    def status(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        body = self.emu.get(plural, namespace, name)
        return (body or {}).get("status") or {}

    def condition(self, plural: str, namespace: str, name: str, type_: str) -> dict[str, Any]:
        for condition in self.status(plural, namespace, name).get("conditions") or []:
            if condition.get("type") == type_:
                return condition
        return {}


def make_runtime(prom_url: str, kubeconfig: Path, **overrides: Any) -> Runtime:
    config = OperatorConfig(
        prometheus_url=prom_url,
        evaluation_interval=1.0,
        prometheus_timeout=2.0,
        kubeconfig=str(kubeconfig),
        metrics_port=0,
        metrics_host="127.0.0.1",
        **overrides,
    )
    return Runtime(config)


@contextlib.asynccontextmanager
async def running_operator(emu: KubeEmulator, prom_url: str, kubeconfig: Path, **overrides: Any) -> AsyncIterator[tuple[Runtime, OperatorRun]]:
    """The project's handlers in a fresh registry, running against ``emu`` until the block exits."""
    runtime = make_runtime(prom_url, kubeconfig, **overrides)
    registry = kopf.OperatorRegistry()
    register(registry, runtime.config)
    async with run_operator(registry, emu, memo=operator_memo(runtime)) as operator:
        yield runtime, operator


@contextlib.asynccontextmanager
async def operator_env(prom: PrometheusServer, tmp_path: Path, *, emulator: Optional[dict[str, Any]] = None, **overrides: Any) -> AsyncIterator[Env]:
    """The loop; ``emulator`` passes options to the emulated API. Its Deployment controller (making ReplicaSets
    and revisions, renumbering a restored template, reporting ``observedGeneration``) is on unless a test turns
    it off: the gate judges only Deployments their controller has observed."""
    async with KubeEmulator(crds=load_crds(CRDS), **{"deployment_controller": True, **(emulator or {})}) as emu:
        kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
        async with running_operator(emu, prom.url, kubeconfig, **overrides) as (runtime, operator):
            async with RuleSync(emu, prom) as sync:
                yield Env(emu=emu, prom=prom, runtime=runtime, operator=operator, sync=sync, kubeconfig=kubeconfig)
