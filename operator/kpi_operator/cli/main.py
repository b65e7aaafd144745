"""The ``kpi-operator`` command: the same core as the operator, without a cluster.

Exit codes are the contract scripts rely on: 0 success, 1 invalid input (or a failed gate), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from .. import __version__
from .inputs import InputError

COMMANDS = ("generate", "validate", "import_spec", "export_spec", "gate", "run", "demo")  # modules of this package; each names its subcommand


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kpi-operator",
        description="KPI and SLO custom resources: Prometheus rules, live status and canary gates.",
    )
    parser.add_argument("--version", action="version", version=f"kpi-operator {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __package__).add_parser(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except InputError as error:
        print(f"kpi-operator {args.command}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
