"""``kpi-operator run``: start the operator (kopf) with the handlers of ``runtime.handlers``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from ..runtime.config import add_arguments, from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the operator",
        description="Run the operator: reconcile KPIs and SLOs into PrometheusRules, evaluate them through the "
        "Prometheus HTTP API into their status, and act on canary gates. Every flag also reads an environment "
        "variable KPI_OPERATOR_<NAME> (shown in each flag's help).",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import kopf

    from ..runtime.config import parse_selector
    from ..runtime.handlers import operator_memo, register
    from ..runtime.state import Runtime

    try:
        config = from_args(args)
        parse_selector(config.label_selector)  # checked here too: a bad selector would fail inside kopf's startup
    except (argparse.ArgumentTypeError, ValueError) as error:
        # A usage error, like argparse's own: exit 2 with the reason, not a traceback.
        print(f"kpi-operator run: error: {error}", file=sys.stderr)
        return 2
    if config.kubeconfig:
        os.environ["KUBECONFIG"] = config.kubeconfig
    kopf.configure(
        verbose=config.verbose,
        log_format=kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger("kpi_operator").setLevel(logging.DEBUG if config.verbose else logging.INFO)

    async def main() -> None:
        registry = kopf.OperatorRegistry()
        runtime = Runtime(config)
        register(registry, config)
        await kopf.operator(
            registry=registry,
            memo=operator_memo(runtime),
            clusterwide=not config.namespaces,
            namespaces=config.namespaces,
            standalone=not config.peering,
            # Naming the peering makes kopf require its CRD, so it is named only when peering is on.
            peering_name=config.peering_name if config.peering else None,
        )

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0
