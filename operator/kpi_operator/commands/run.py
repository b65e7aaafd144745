"""``kpi-operator run``: start the operator (kopf) with the handlers of ``handlers.py``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from ..config import add_arguments, from_args


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

    from ..handlers import Runtime, register

    config = from_args(args)
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
        register(registry, runtime)
        await kopf.operator(
            registry=registry,
            clusterwide=not config.namespaces,
            namespaces=config.namespaces,
            standalone=not config.peering,
            peering_name=config.peering_name,
        )

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0
