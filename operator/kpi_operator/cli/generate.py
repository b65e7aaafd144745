"""``kpi-operator generate``: KPI / SLO files in, PrometheusRule objects (or a plain rule file) out."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .inputs import add_filename_argument, load_documents
from .render import dump_yaml, write_yaml_documents
from ..rules import RULE_SCHEMAS, build_prometheus_rule, build_rule_file, generate_groups
from .validate import add_template_queries_argument, check


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate Prometheus rules from KPI and SLO files",
        description="Generate recording and multiwindow multi-burn-rate alerting rules. Writes multi-document YAML "
        "to stdout. Nothing is written when any input is invalid (exit 1); exit 2 on a usage error.",
    )
    add_filename_argument(parser)
    parser.add_argument("--rule-schema", choices=RULE_SCHEMAS, default="native", help="record names: native (default) or sloth (Sloth v0.16's)")
    parser.add_argument(
        "--output",
        choices=("prometheusrule", "rules"),
        default="prometheusrule",
        help="prometheusrule: one PrometheusRule object per KPI/SLO (default); rules: one plain Prometheus rule file",
    )
    add_template_queries_argument(parser)
    parser.set_defaults(run=run)


def definition_version(obj: Any) -> int:
    """The version recorded in the object's status by the operator, 1 for a fresh object."""
    status = obj.status or {}
    definition = status.get("definition") or {}
    version = definition.get("version")
    return version if isinstance(version, int) and version > 0 else 1


def run(args: argparse.Namespace) -> int:
    documents = load_documents(args.filename)
    messages = check(documents, args.rule_schema, args.allow_template_queries)
    if messages:
        for message in messages:
            print(message, file=sys.stderr)
        return 1
    objects = [d.obj for d in documents if d.obj is not None]
    if args.output == "rules":
        groups = [group for obj in objects for group in generate_groups(obj, args.rule_schema, definition_version(obj))]
        sys.stdout.write(dump_yaml(build_rule_file(groups)))
    else:
        rules = (build_prometheus_rule(obj, generate_groups(obj, args.rule_schema, definition_version(obj))) for obj in objects)
        write_yaml_documents(rules, sys.stdout)
    return 0
