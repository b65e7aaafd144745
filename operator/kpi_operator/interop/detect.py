"""Which tool wrote a document: from ``version`` (Sloth's files), else ``apiVersion``.

Used when ``kpi-operator import`` has no ``--from``; with ``--from``, a document of another format is an error
rather than a guess.
"""

from __future__ import annotations

from typing import Any, Optional

from ..api.models import API_VERSION
from . import openslo, pyrra, sloth

FORMATS = ("sloth", "openslo", "pyrra")
KPI = "kpi"

_BY_API_VERSION = {
    sloth.CR_API_VERSION: "sloth",
    openslo.V1ALPHA: "openslo",
    openslo.V1: "openslo",
    pyrra.API_VERSION: "pyrra",
    API_VERSION: KPI,
}


def detect_format(document: Any) -> Optional[str]:
    """``sloth``, ``openslo``, ``pyrra``, ``kpi`` (already a kpi.dev object) or None when unknown."""
    if not isinstance(document, dict):
        return None
    if document.get("version") == sloth.FILE_VERSION:
        return "sloth"
    api_version = document.get("apiVersion")
    return _BY_API_VERSION.get(api_version) if isinstance(api_version, str) else None


def describe(document: Any) -> Optional[str]:
    """``Kind/name`` of a document for messages (``prometheus/v1/<service>`` for a Sloth file), or None."""
    if not isinstance(document, dict):
        return None
    if document.get("version") == sloth.FILE_VERSION:
        return f"{sloth.FILE_VERSION}/{document.get('service') or '?'}"
    kind = document.get("kind")
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if kind or name:
        return f"{kind or '?'}/{name or '?'}"
    return None
