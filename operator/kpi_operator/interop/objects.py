"""Building the kpi.dev objects an importer returns: metadata, the owner, provenance and import notes.

The owner is required by the kpi.dev API and none of Sloth, OpenSLO or Pyrra has one. The importer takes it,
in this order, from: the ``kpi.dev/owner`` annotation (what ``kpi-operator export`` writes), a label ``owner``,
a label ``team``, the ``--owner`` option; failing all of these it writes the placeholder ``unknown`` and says so
in a note, because refusing the import would block a migration on a field the source tool never asked for, and
a visible placeholder is easy to grep for (``kubectl get slo`` shows the owner column).

Notes are things a person should know about a conversion that is valid but not one to one (a placeholder owner,
an option with no counterpart). They travel with the object in the ``kpi.dev/import-notes`` annotation, so a
reviewer of the generated YAML sees them, and the CLI prints them on stderr.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..api.models import API_VERSION

OWNER_ANNOTATION = "kpi.dev/owner"
NOTES_ANNOTATION = "kpi.dev/import-notes"
SOURCE_ANNOTATION = "kpi.dev/imported-from"
OWNER_PLACEHOLDER = "unknown"
OWNER_LABELS = ("owner", "team")


@dataclass(frozen=True)
class ImportOptions:
    """What the command line adds to a source document.

    ``namespace`` wins over the source's own namespace; ``owner`` is only a fallback when the source names none;
    ``default_window`` is the SLO window for formats that carry none (Sloth, whose own default is 30d and whose
    ``--default-slo-period`` flag this mirrors).
    """

    namespace: Optional[str] = None
    owner: Optional[str] = None
    default_window: str = "30d"


def choose_owner(
    labels: dict[str, str], annotations: dict[str, str], options: ImportOptions, source: str
) -> tuple[str, Optional[str]]:
    """The owner and, when it is the placeholder, the note that says it must be set."""
    if annotations.get(OWNER_ANNOTATION):
        return annotations[OWNER_ANNOTATION], None
    for name in OWNER_LABELS:
        if labels.get(name):
            return labels[name], None
    if options.owner:
        return options.owner, None
    return OWNER_PLACEHOLDER, (
        f"spec.owner: {source} has no owner and no owner/team label; set to {OWNER_PLACEHOLDER!r}: "
        "replace it (or import with --owner)"
    )


def namespace_for(options: ImportOptions, source_namespace: Any) -> str:
    if options.namespace:
        return options.namespace
    if isinstance(source_namespace, str) and source_namespace:
        return source_namespace
    return "default"


def build_object(
    kind: str,
    name: str,
    namespace: str,
    spec: dict[str, Any],
    *,
    source: str,
    labels: Optional[dict[str, str]] = None,
    annotations: Optional[dict[str, str]] = None,
    notes: Optional[list[str]] = None,
) -> dict[str, Any]:
    """A kpi.dev object dict with keys in reading order and empty parts left out."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    merged = {SOURCE_ANNOTATION: source, **(annotations or {})}
    if notes:
        merged[NOTES_ANNOTATION] = "\n".join(notes)
    metadata["annotations"] = merged
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": {k: v for k, v in spec.items() if v not in (None, {}, [], "")}}


def notes_of(obj: dict[str, Any]) -> list[str]:
    """The import notes recorded on an object (empty when there are none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(NOTES_ANNOTATION) or ""
    return [line for line in text.split("\n") if line]


def percent_from_fraction(value: float) -> float:
    """0.999 -> 99.9, without the float noise of ``0.999 * 100`` leaking into names and labels."""
    return round(value * 100, 10)
