"""Interoperability: Sloth, OpenSLO and Pyrra specs in, OpenSLO out. Pure: dicts in, dicts out, no I/O.

Each importer (``sloth``, ``openslo``, ``pyrra``) takes one parsed YAML document and returns kpi.dev object
dicts, or raises ``ImportProblem`` naming the source field it cannot carry over; ``detect`` tells the formats
apart, ``importing`` runs a whole input (with OpenSLO's cross-document references), and ``export_openslo``
writes SLOs back as OpenSLO v1. ``docs/interop.md`` is the user's account of every mapping and refusal.
"""

from __future__ import annotations

from .detect import FORMATS, detect_format
from .export_openslo import Exported, ExportProblem, ExportSkipped, export_object
from .importing import Imported, SourceDocument, import_document, import_documents, split_documents
from .objects import ImportOptions, notes_of
from .problem import ImportProblem

__all__ = [
    "FORMATS",
    "ExportProblem",
    "ExportSkipped",
    "Exported",
    "ImportOptions",
    "ImportProblem",
    "Imported",
    "SourceDocument",
    "detect_format",
    "export_object",
    "import_document",
    "import_documents",
    "notes_of",
    "split_documents",
]
