"""``kpi-operator import``: Sloth, OpenSLO and Pyrra specs in, kpi.dev SLO / KPI objects out (multi-document YAML).

Every produced object is validated exactly as ``kpi-operator validate`` would; nothing is written when any
document cannot be imported or any result is invalid (exit 1). Notes about conversions that are valid but not
one to one go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from ..api.durations import DurationError, parse_duration_ms
from ..api.loading import parse_object
from .inputs import add_filename_argument, iter_sources
from ..interop import FORMATS, ImportOptions, SourceDocument, import_documents, notes_of, split_documents
from ..interop.detect import describe
from .render import dump_yaml_documents
from ..rules import SchemaError, generate_groups


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="convert Sloth, OpenSLO and Pyrra specs to KPI and SLO objects",
        description="Convert Sloth (prometheus/v1, sloth.slok.dev/v1), OpenSLO (openslo/v1alpha, openslo/v1) and Pyrra "
        "(pyrra.dev/v1alpha1) specs to kpi.dev/v1alpha1 objects, written as multi-document YAML to stdout. Prints "
        "'file: document N (Kind/name): field: message' per problem; exit 1 when anything cannot be imported, 2 on a "
        "usage error. See docs/interop.md for every mapping.",
    )
    add_filename_argument(parser)
    parser.add_argument("--from", dest="source_format", choices=FORMATS, help="the input format (default: detected per document)")
    parser.add_argument("--namespace", help="namespace of every produced object (default: the source's, else 'default')")
    parser.add_argument("--owner", help="owner when a spec names none (no kpi.dev/owner annotation, no owner or team label)")
    parser.add_argument("--default-window", default="30d", metavar="DURATION", help="SLO window for Sloth specs, which carry none (default 30d)")
    parser.set_defaults(run=run)


def _read(paths: list[str]) -> tuple[list[SourceDocument], list[str]]:
    documents: list[SourceDocument] = []
    errors: list[str] = []
    for name, text in iter_sources(paths):
        try:
            bodies = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            errors.append(f"{name}: not valid YAML: {where}{getattr(error, 'problem', None) or error}")
            continue
        found = split_documents(name, bodies)
        if not found:
            errors.append(f"{name}: no documents in file")
        documents.extend(found)
    return documents, errors


def _check(obj_body: dict[str, Any]) -> list[str]:
    """The validation problems of one produced object, as ``validate`` reports them."""
    obj, problems = parse_object(obj_body)
    if obj is None:
        return [str(problem) for problem in problems]
    try:
        generate_groups(obj, "native")
    except SchemaError as error:
        return [str(error)]
    return []


def run(args: argparse.Namespace) -> int:
    try:
        parse_duration_ms(args.default_window)
    except DurationError as error:
        print(f"kpi-operator import: --default-window: {error}", file=sys.stderr)
        return 2
    documents, errors = _read(args.filename)
    options = ImportOptions(namespace=args.namespace, owner=args.owner, default_window=args.default_window)
    produced: list[dict[str, Any]] = []
    notes: list[str] = []
    seen: dict[tuple[str, str, str], str] = {}
    for outcome in import_documents(documents, args.source_format, options):
        document = outcome.document
        if outcome.problem is not None:
            errors.append(f"{document.source}: {document.label}: {outcome.problem}")
            continue
        for body in outcome.objects:
            # Problems of a produced object name its own fields, so the label names the produced object.
            where = f"{document.source}: {document.position} ({describe(body)})"
            metadata = body.get("metadata") or {}
            key = (str(body.get("kind")), str(metadata.get("namespace") or "default"), str(metadata.get("name")))
            errors.extend(f"{where}: {problem}" for problem in _check(body))
            if key in seen:
                errors.append(f"{where}: metadata.name: {key[0]}/{key[2]} is also produced by {seen[key]} in namespace {key[1]}; use --namespace or rename one")
            seen.setdefault(key, f"{document.source}: {document.position}")
            notes.extend(f"{where}: note: {note}" for note in notes_of(body))
            produced.append(body)
    if errors:
        for message in errors:
            print(message, file=sys.stderr)
        print(f"kpi-operator import: {len(errors)} problem(s); nothing written", file=sys.stderr)
        return 1
    for note in notes:
        print(note, file=sys.stderr)
    if not produced:
        print("kpi-operator import: no SLO or KPI in the input (SLI, Service and alerting documents produce nothing on their own)", file=sys.stderr)
        return 0
    sys.stdout.write(dump_yaml_documents(produced))
    return 0
