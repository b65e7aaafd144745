"""``kpi-operator run``: start the operator (kopf) with the handlers of ``runtime.handlers``; with
``--leader-election``, only once this replica holds the leader Lease (``runtime.leadership``)."""

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
    from ..runtime.leadership import run_as_leader
    from ..runtime.log_redaction import redact_logs
    from ..runtime.state import Runtime

    try:
        config = from_args(args)
        parse_selector(config.label_selector)  # checked here too: a bad selector would fail inside kopf's startup
        problems = config.problems()
        if problems:
            raise ValueError("; ".join(problems))
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
    redact_logs()  # a Prometheus URL with userinfo, or a token, never reaches the log

    async def main() -> None:
        registry = kopf.OperatorRegistry()
        runtime = Runtime(config)
        register(registry, config)

        async def operate() -> None:
            await kopf.operator(
                registry=registry,
                memo=operator_memo(runtime),
                clusterwide=not config.namespaces,
                namespaces=config.namespaces,
                # The leader Lease decides who acts; kopf's own peering would only pause the leader.
                standalone=config.leader_election or not config.peering,
                # Naming the peering makes kopf require its CRD, so it is named only when peering is on.
                peering_name=config.peering_name if config.peering else None,
            )

        if not config.leader_election:
            await operate()
            return
        # A standby serves /healthz and /metrics too: it is alive, and a rolling update must see it ready.
        if config.metrics_port >= 0:
            await runtime.telemetry.start(config.metrics_host, config.metrics_port)
            logging.getLogger("kpi_operator").info("serving /metrics and /healthz on %s:%s", config.metrics_host, runtime.telemetry.port)
        try:
            await run_as_leader(config, runtime.telemetry, operate)
        finally:
            await runtime.telemetry.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0
