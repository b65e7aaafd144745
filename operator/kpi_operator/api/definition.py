"""The identity of a KPI's or SLO's computation: what the number means.

A KPI's computation is immutable per version: when the query, objective, window, indicator, target or thresholds
change, the value is no longer comparable with last week's, so ``status.definition.version`` is bumped and an
Event names the old and new hash. Labels, descriptions, owners and alert routing do not change the meaning and
do not bump it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional, Union

from .durations import normalize_duration
from .models import KPI, SLO
from .status import Definition


def definition_fields(obj: Union[SLO, KPI]) -> dict[str, Any]:
    """The fields that define the computation, normalised (``28d`` and ``4w`` are the same window)."""
    spec = obj.spec
    if isinstance(obj, SLO):
        return {
            "kind": "SLO",
            "objective": spec.objective,
            "window": normalize_duration(spec.window),
            "indicator": spec.indicator.model_dump(by_alias=True, exclude_none=True),
        }
    return {
        "kind": "KPI",
        "query": spec.query,
        "window": normalize_duration(spec.window),
        "target": spec.target.model_dump(by_alias=True),
        "thresholds": spec.thresholds.model_dump(by_alias=True, exclude_none=True) if spec.thresholds else None,
    }


def definition_hash(obj: Union[SLO, KPI]) -> str:
    """A short, stable hash of ``definition_fields`` (sha256, first 16 hex digits)."""
    canonical = json.dumps(definition_fields(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def next_definition(previous: Optional[Definition], obj: Union[SLO, KPI], now_iso: str) -> tuple[Definition, bool]:
    """The ``status.definition`` to write, and whether the version was bumped.

    ``previous`` is the current ``status.definition`` (or None for a new object): the version starts at 1 and
    goes up by one each time the hash changes.
    """
    new_hash = definition_hash(obj)
    if previous is None:
        return Definition(version=1, hash=new_hash, changed_at=now_iso), False
    if previous.hash == new_hash:
        return previous.model_copy(), False
    return Definition(version=previous.version + 1, hash=new_hash, changed_at=now_iso), True
