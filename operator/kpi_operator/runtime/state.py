"""What the operator knows between events: its configuration and clients (``Runtime``, kopf's ``memo``) and, per
KPI and SLO, the validated model and the last status written (``Store``).

The reconcile handlers fill the store; the one evaluation loop reads it, so a cycle needs no list call to the
API server and never re-parses a spec.

The store holds what every cycle reads (the model, the status) as is, and what only a rule write reads (the desired
PrometheusRule, some 10-20 KB of dicts per object) compressed: at 10,000 objects the rule dicts alone were most of
the store (see bench/README.md, "load").
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Union

from ..adapters.kube import KubeClient
from ..adapters.prometheus import PrometheusReader
from ..api.models import API_VERSION, KPI, SLO
from ..api.status import AnyStatus, SLOStatus, status_type
from ..evaluation import Tracked
from .config import OperatorConfig
from .telemetry import Telemetry

Key = tuple[str, str, str]


@dataclass
class Entry:
    kind: str
    namespace: str
    name: str
    uid: Optional[str]
    obj: Optional[Union[SLO, KPI]]
    status: AnyStatus = field(default_factory=SLOStatus)
    desired_rule: Optional[dict[str, Any]] = None
    invalid: bool = False  # the current generation is invalid; obj is the last good one (or None)
    written_at: float = 0.0  # when the evaluation loop last planned a status write (for the heartbeat)
    kpi_history: list[tuple[float, Optional[float]]] = field(default_factory=list)
    _packed_rule: Optional[bytes] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.status, status_type(self.kind)):
            self.status = status_type(self.kind).model_validate(self.status.to_patch())

    @property
    def key(self) -> Key:
        return (self.kind, self.namespace, self.name)

    @property
    def reference(self) -> dict[str, Any]:
        """A body-like dict that ``kopf.event`` and ``KubeClient.post_event`` accept as the involved object."""
        return {
            "apiVersion": API_VERSION,
            "kind": self.kind,
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid},
        }

    def tracked(self) -> Tracked:
        """The entry as the pure cycle planning sees it."""
        gated = self.obj is not None and self.obj.spec.gate is not None
        return Tracked(key=self.key, status=self.status, invalid=self.invalid, written_at=self.written_at, gated=gated)


def _get_desired_rule(entry: Entry) -> Optional[dict[str, Any]]:
    """The desired PrometheusRule, rebuilt from its compressed JSON: read only when a rule is (re)written."""
    packed = entry._packed_rule
    return None if packed is None else json.loads(zlib.decompress(packed))


def _set_desired_rule(entry: Entry, rule: Optional[dict[str, Any]]) -> None:
    entry._packed_rule = None if rule is None else zlib.compress(json.dumps(rule, separators=(",", ":")).encode())


# ``desired_rule`` stays a field (constructor argument, equality) whose value is kept packed: the property replaces
# the field's class attribute after ``dataclass`` has written ``__init__``, whose assignment then packs. Each read
# returns a fresh dict, so no caller can change what the store keeps.
Entry.desired_rule = property(_get_desired_rule, _set_desired_rule)  # type: ignore[assignment]


class Store:
    def __init__(self) -> None:
        self._entries: dict[Key, Entry] = {}

    def put(self, entry: Entry) -> Entry:
        previous = self._entries.get(entry.key)
        if previous is not None and previous.uid == entry.uid:
            entry.kpi_history = previous.kpi_history
        self._entries[entry.key] = entry
        return entry

    def get(self, key: Key) -> Optional[Entry]:
        return self._entries.get(key)

    def remove(self, key: Key, uid: Optional[str] = None) -> bool:
        """Forget the entry of ``key``, only if it is the object ``uid`` (when given): a re-created object has the
        same key and a new uid, and the old one's late deletion must not forget it."""
        entry = self._entries.get(key)
        if entry is None or (uid is not None and entry.uid is not None and entry.uid != uid):
            return False
        del self._entries[key]
        return True

    def by_rule(self, namespace: str, name: str) -> Iterator[Entry]:
        """Entries whose PrometheusRule is ``namespace/name`` (rules are named after their object)."""
        for kind in ("SLO", "KPI"):
            entry = self._entries.get((kind, namespace, name))
            if entry is not None:
                yield entry

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)


class Runtime:
    """Operator-wide state, handed to every handler as kopf's ``memo``: the configuration, the store, the
    clients, telemetry and the loop's task."""

    def __init__(self, config: OperatorConfig):
        self.config = config
        self.store = Store()
        self.telemetry = Telemetry(config.evaluation_interval)
        self.reader = PrometheusReader(config.prometheus)
        self.kube: Optional[KubeClient] = None
        self.loop_task: Optional[asyncio.Task[None]] = None
