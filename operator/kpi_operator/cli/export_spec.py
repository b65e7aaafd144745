"""``kpi-operator export``: kpi.dev SLO files out to another format (OpenSLO v1), as multi-document YAML.

Input is validated as ``kpi-operator validate`` does (exit 1 when invalid). KPIs that have no OpenSLO form are
skipped with a note on stderr; an SLO that OpenSLO cannot express is an error (exit 1).
"""

from __future__ import annotations

import argparse
import sys

from ..api.loading import Document
from .inputs import add_filename_argument, load_documents
from ..interop import ExportProblem, ExportSkipped, export_object
from .render import dump_yaml_documents


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="convert KPI and SLO objects to OpenSLO",
        description="Write every SLO (and every KPI imported from an OpenSLO thresholdMetric SLO) as an OpenSLO v1 SLO "
        "document to stdout. Exit 1 when an input is invalid or cannot be expressed, 2 on a usage error. See "
        "docs/interop.md.",
    )
    add_filename_argument(parser)
    parser.add_argument("--to", required=True, choices=("openslo",), help="the output format")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    documents: list[Document] = load_documents(args.filename)
    errors: list[str] = []
    notes: list[str] = []
    exported = []
    for document in documents:
        errors.extend(document.messages())
        if document.obj is None or document.problems:
            continue
        where = f"{document.source}: {document.label}"
        try:
            result = export_object(document.obj)
        except ExportSkipped as skipped:
            notes.append(f"{where}: note: {skipped}")
            continue
        except ExportProblem as problem:
            errors.append(f"{where}: {problem}")
            continue
        notes.extend(f"{where}: note: {note}" for note in result.notes)
        exported.append(result.document)
    if errors:
        for message in errors:
            print(message, file=sys.stderr)
        print(f"kpi-operator export: {len(errors)} problem(s); nothing written", file=sys.stderr)
        return 1
    for note in notes:
        print(note, file=sys.stderr)
    if exported:
        sys.stdout.write(dump_yaml_documents(exported))
    else:
        print("kpi-operator export: nothing to export", file=sys.stderr)
    return 0
