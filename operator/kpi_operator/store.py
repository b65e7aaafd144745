"""What the operator knows of each KPI and SLO between events: the validated model and the last status written.

The reconcile handlers fill it; the one evaluation loop reads it, so a cycle needs no list call to the API
server and never re-parses a spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Union

from .api.models import KPI, SLO

Key = tuple[str, str, str]


@dataclass
class Entry:
    kind: str
    namespace: str
    name: str
    uid: Optional[str]
    obj: Optional[Union[SLO, KPI]]
    status: dict[str, Any] = field(default_factory=dict)
    desired_rule: Optional[dict[str, Any]] = None
    invalid: bool = False  # the current generation is invalid; obj is the last good one (or None)
    kpi_history: list[tuple[float, Optional[float]]] = field(default_factory=list)

    @property
    def key(self) -> Key:
        return (self.kind, self.namespace, self.name)

    @property
    def reference(self) -> dict[str, Any]:
        """A body-like dict that ``kopf.event`` accepts as the involved object."""
        return {
            "apiVersion": "kpi.dev/v1alpha1",
            "kind": self.kind,
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid},
        }


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

    def remove(self, key: Key) -> None:
        self._entries.pop(key, None)

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
