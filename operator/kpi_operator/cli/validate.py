"""``kpi-operator validate``: check KPI and SLO files, one line per problem, exit 1 when any is invalid."""

from __future__ import annotations

import argparse
import sys

from ..api.alert_templates import ALLOW_TEMPLATE_QUERIES_FLAG, template_query_problems
from ..api.loading import Document, Problem
from .inputs import add_filename_argument, load_documents
from ..rules import RULE_SCHEMAS, SchemaError, generate_groups


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check KPI and SLO files",
        description="Validate KPI and SLO documents. Prints 'file: document N (Kind/name): field.path: message' per "
        "problem. Exit 0 when all are valid, 1 when any is invalid, 2 on a usage error.",
    )
    add_filename_argument(parser)
    parser.add_argument("--rule-schema", choices=RULE_SCHEMAS, default="native", help="also check that the rules can be generated in this schema")
    add_template_queries_argument(parser)
    parser.set_defaults(run=run)


def add_template_queries_argument(parser: argparse.ArgumentParser) -> None:
    """The operator's ``--allow-template-queries``, so a file is judged as the operator will judge it."""
    parser.add_argument(
        ALLOW_TEMPLATE_QUERIES_FLAG,
        action="store_true",
        help="accept the query function in alert labels and annotations, as the operator does with the same flag",
    )


def check(documents: list[Document], schema: str, allow_template_queries: bool = False) -> list[str]:
    """All problem lines of all documents, including what only rule generation finds (a feature the rule schema
    cannot express, an alert tier that can never fire) and alert templates calling ``query`` unless allowed,
    which are added to the document's problems."""
    for document in documents:
        if document.obj is not None and not document.problems and not allow_template_queries:
            document.problems.extend(template_query_problems(document.obj))
        if document.obj is not None and not document.problems:
            try:
                generate_groups(document.obj, schema)
            except SchemaError as error:
                document.problems.append(Problem(error.path, error.message))
    return [message for document in documents for message in document.messages()]


def run(args: argparse.Namespace) -> int:
    documents = load_documents(args.filename)
    messages = check(documents, args.rule_schema, args.allow_template_queries)
    for message in messages:
        print(message, file=sys.stderr)
    valid = sum(1 for d in documents if d.obj is not None and not d.problems)
    if messages:
        print(f"{len(messages)} problem(s) in {len(documents) - valid} of {len(documents)} document(s)", file=sys.stderr)
        return 1
    print(f"{valid} document(s) valid")
    return 0
