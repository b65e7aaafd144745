"""``kpi-operator demo``: the whole loop locally, narrated; exits 0 when the canary was rolled back.

The demo itself lives in the kpi-operator-devtools distribution (``kpi_operator_devtools.demo``), with the stand-ins
it runs, so that the operator's image never holds them; this subcommand stays in the product's command and loads it
only when it is installed.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole loop locally: Prometheus, an emulated API, the operator, a canary rollback",
        description="Start a local Prometheus (Debian's prometheus package), the emulated Kubernetes API (the "
        "kpi-operator-devtools distribution), the operator and a synthetic checkout service; apply a gated SLO and a "
        "KPI, inject errors into the canary and watch the gate roll it back. Exit 0 when the canary was rolled back "
        "and nothing else touched.",
    )
    parser.add_argument("--keep", action="store_true", help="leave everything running at the end and print the URLs (Ctrl-C stops)")
    parser.add_argument("--fast", action="store_true", help="1 s evaluation interval (CI); default 2 s")
    parser.add_argument("--summary-json", metavar="FILE", help="write the outcome as JSON (for tests)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from kpi_operator_devtools.demo.runner import run_demo
    except ImportError as error:
        print(
            "kpi-operator demo needs the kpi-operator-devtools distribution: from a clone of the repository, "
            f"pip install -e ./devtools (`make demo` does it) ({error})",
            file=sys.stderr,
        )
        return 2
    code = run_demo(fast=args.fast, keep=args.keep, summary_path=args.summary_json)
    if code == 0:
        print("\nDemo complete: the canary was rolled back by the SLO's gate; the stable Deployment was not touched.")
    return code
