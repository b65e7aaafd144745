"""A whole input (every document of every file) -> kpi.dev objects, one outcome per source document.

OpenSLO SLOs may refer to SLI and DataSource documents anywhere in the input, so references are collected from
all documents first. A YAML document that is a list (OpenSLO's go-sdk examples are written that way) counts as
one source document per item. Objects that are already ``kpi.dev/v1alpha1`` pass through unchanged, so a folder
of mixed specs can be imported in one go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from . import openslo, pyrra, sloth
from .detect import FORMATS, KPI, describe, detect_format
from .objects import ImportOptions
from .problem import ImportProblem


@dataclass
class SourceDocument:
    """One document of the input: where it is, and its parsed body."""

    source: str
    index: int
    body: Any
    item: Optional[int] = None

    @property
    def position(self) -> str:
        """``document 2``, or ``document 1 item 3`` inside a YAML list."""
        return f"document {self.index}" + (f" item {self.item}" if self.item is not None else "")

    @property
    def label(self) -> str:
        """``document 2 (SLO/checkout)`` or ``document 1 item 3 (SLI/x)``: how messages point at it."""
        what = describe(self.body)
        return f"{self.position} ({what})" if what else self.position


@dataclass
class Imported:
    """What one source document became: objects, or the problem that stopped it."""

    document: SourceDocument
    objects: list[dict[str, Any]] = field(default_factory=list)
    problem: Optional[ImportProblem] = None


def split_documents(source: str, bodies: Iterable[Any]) -> list[SourceDocument]:
    """The source documents of one file's YAML documents (empty documents skipped, lists split into items)."""
    documents = []
    index = 0
    for body in bodies:
        if body is None:
            continue
        index += 1
        if isinstance(body, list):
            documents.extend(SourceDocument(source, index, item, number) for number, item in enumerate(body, start=1))
        else:
            documents.append(SourceDocument(source, index, body))
    return documents


def _format_problem(body: Any, wanted: Optional[str], found: Optional[str]) -> ImportProblem:
    field_name = "version" if isinstance(body, dict) and "version" in body and "apiVersion" not in body else "apiVersion"
    got = body.get(field_name) if isinstance(body, dict) else None
    if wanted:
        return ImportProblem(field_name, f"not a {wanted} document (--from {wanted}), got {got!r}")
    return ImportProblem(
        field_name,
        f"unknown format {got!r}: expected Sloth (version: prometheus/v1, sloth.slok.dev/v1), OpenSLO (openslo/v1alpha, "
        "openslo/v1) or Pyrra (pyrra.dev/v1alpha1)",
    )


def import_document(document: Any, fmt: Optional[str] = None, options: ImportOptions = ImportOptions(), references: Optional[openslo.References] = None) -> list[dict[str, Any]]:
    """The kpi.dev objects of one parsed document; ``fmt`` forces a format (else it is detected)."""
    if not isinstance(document, dict):
        raise ImportProblem("", f"expected a mapping (one spec document), got {type(document).__name__}")
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    found = detect_format(document)
    if found == KPI:
        return [document]
    if found is None or (fmt is not None and found != fmt):
        raise _format_problem(document, fmt, found)
    if found == "sloth":
        return sloth.convert(document, options)
    if found == "openslo":
        return openslo.convert(document, options, references)
    return pyrra.convert(document, options)


def import_documents(documents: list[SourceDocument], fmt: Optional[str] = None, options: ImportOptions = ImportOptions()) -> list[Imported]:
    """Every source document converted on its own; one failure never hides the others."""
    references = openslo.References.collect(document.body for document in documents)
    outcomes = []
    for document in documents:
        try:
            outcomes.append(Imported(document, import_document(document.body, fmt, options, references)))
        except ImportProblem as problem:
            outcomes.append(Imported(document, problem=problem))
    return outcomes
