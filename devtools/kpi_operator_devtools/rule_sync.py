"""prometheus-operator's job, done locally: every PrometheusRule's ``spec.groups`` becomes a rule file of a real
Prometheus, reloaded, as the operator of a cluster would deliver it. Used by the demo and the end-to-end tests.

Blocking calls to Prometheus run in threads: the emulated API serves from the same event loop, which must never
block.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

from .prometheus_server import PrometheusServer
from .kube_emulator import KubeEmulator


class RuleSync:
    """prometheus-operator's job, for tests: every PrometheusRule's groups become one rule file of Prometheus."""

    def __init__(self, emu: KubeEmulator, prom: PrometheusServer, interval: float = 0.2):
        self.emu = emu
        self.prom = prom
        self.interval = interval
        self.synced: dict[str, str] = {}
        self.errors: list[str] = []
        self._task: Optional[asyncio.Task[None]] = None

    async def sync_once(self) -> None:
        seen = set()
        for rule in self.emu.list("prometheusrules"):
            name = f"{rule['metadata']['namespace']}__{rule['metadata']['name']}"
            seen.add(name)
            groups = rule.get("spec", {}).get("groups", [])
            fingerprint = json.dumps(groups, sort_keys=True)
            if self.synced.get(name) != fingerprint:
                try:
                    await asyncio.to_thread(self.prom.set_rule_groups, groups, name)
                    self.synced[name] = fingerprint
                except Exception as error:  # a rule Prometheus refuses: recorded for the test to assert on
                    self.errors.append(f"{name}: {error}")
                    self.synced[name] = fingerprint
        for name in set(self.synced) - seen:
            await asyncio.to_thread(self.prom.remove_rules, name)
            del self.synced[name]

    async def _run(self) -> None:
        while True:
            await self.sync_once()
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> "RuleSync":
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
