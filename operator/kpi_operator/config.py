"""Operator configuration: every setting is a flag of ``kpi-operator run`` and an environment variable.

The environment form (``KPI_OPERATOR_PROMETHEUS_URL`` ...) is what the Helm chart and the manifests set; a flag
wins over the environment.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .adapters.prometheus import PrometheusSettings

ENV_PREFIX = "KPI_OPERATOR_"


@dataclass
class OperatorConfig:
    namespaces: list[str] = field(default_factory=list)  # empty: all namespaces
    label_selector: Optional[str] = None
    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_token_file: Optional[str] = None
    prometheus_headers: dict[str, str] = field(default_factory=dict)
    prometheus_ca_file: Optional[str] = None
    prometheus_insecure: bool = False
    prometheus_timeout: float = 10.0
    evaluation_interval: float = 30.0
    freshness: float = 300.0
    rule_schema: str = "native"
    metrics_port: int = 8080
    metrics_host: str = "0.0.0.0"
    log_format: str = "text"
    peering: bool = False
    peering_name: str = "kpi-operator"
    kubeconfig: Optional[str] = None
    verbose: bool = False

    def prometheus_settings(self) -> "PrometheusSettings":
        """The Prometheus client's settings, from the ``prometheus_*`` fields."""
        from .adapters.prometheus import PrometheusSettings

        return PrometheusSettings(
            url=self.prometheus_url,
            token_file=self.prometheus_token_file,
            headers=self.prometheus_headers,
            ca_file=self.prometheus_ca_file,
            insecure=self.prometheus_insecure,
            timeout=self.prometheus_timeout,
        )


def _env(name: str, default: Optional[str] = None) -> Optional[str]:
    return os.environ.get(ENV_PREFIX + name, default)


def _bool(text: Optional[str]) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


def _headers(values: list[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        if ":" not in value:
            raise argparse.ArgumentTypeError(f"--prometheus-header {value!r}: expected 'Name: value'")
        name, _, content = value.partition(":")
        headers[name.strip()] = content.strip()
    return headers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` flags; defaults come from the environment (``KPI_OPERATOR_*``)."""
    parser.add_argument("--namespace", action="append", default=None, help="watch only this namespace; repeatable (env NAMESPACES, comma-separated; default: all namespaces)")
    parser.add_argument("--label-selector", default=_env("LABEL_SELECTOR"), help="watch only objects with these labels, e.g. team=payments (env LABEL_SELECTOR)")
    parser.add_argument("--prometheus-url", default=_env("PROMETHEUS_URL", "http://127.0.0.1:9090"), help="Prometheus-compatible query API (env PROMETHEUS_URL)")
    parser.add_argument("--prometheus-token-file", default=_env("PROMETHEUS_TOKEN_FILE"), help="bearer token file, re-read on every query (env PROMETHEUS_TOKEN_FILE)")
    parser.add_argument("--prometheus-header", action="append", default=None, metavar="NAME: VALUE", help="extra header such as 'X-Scope-OrgID: tenant-a'; repeatable (env PROMETHEUS_HEADERS, comma-separated)")
    parser.add_argument("--prometheus-ca-file", default=_env("PROMETHEUS_CA_FILE"), help="CA bundle for an https Prometheus (env PROMETHEUS_CA_FILE)")
    parser.add_argument("--prometheus-insecure", action="store_true", default=_bool(_env("PROMETHEUS_INSECURE")), help="do not verify Prometheus' TLS certificate (env PROMETHEUS_INSECURE)")
    parser.add_argument("--evaluation-interval", type=float, default=float(_env("EVALUATION_INTERVAL", "30") or 30), help="seconds between evaluation cycles (env EVALUATION_INTERVAL; default 30)")
    parser.add_argument("--freshness", type=float, default=float(_env("FRESHNESS", "300") or 300), help="samples older than this many seconds count as no data (env FRESHNESS; default 300)")
    parser.add_argument("--rule-schema", choices=("native", "sloth"), default=_env("RULE_SCHEMA", "native"), help="default rule schema (env RULE_SCHEMA)")
    parser.add_argument("--metrics-port", type=int, default=int(_env("METRICS_PORT", "8080") or 8080), help="port of /metrics and /healthz; 0 picks a free one (env METRICS_PORT)")
    parser.add_argument("--metrics-host", default=_env("METRICS_HOST", "0.0.0.0"), help="address of /metrics and /healthz (env METRICS_HOST)")
    parser.add_argument("--log-format", choices=("text", "json"), default=_env("LOG_FORMAT", "text"), help="log format (env LOG_FORMAT)")
    parser.add_argument("--peering", action="store_true", default=_bool(_env("PEERING")), help="kopf peering: one active replica among several (env PEERING)")
    parser.add_argument("--peering-name", default=_env("PEERING_NAME", "kpi-operator"), help="peering object name (env PEERING_NAME)")
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig file when not in a cluster (env KUBECONFIG)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")


def from_args(args: argparse.Namespace) -> OperatorConfig:
    namespaces = args.namespace if args.namespace else [n for n in (_env("NAMESPACES") or "").split(",") if n.strip()]
    header_values = args.prometheus_header if args.prometheus_header else [h for h in (_env("PROMETHEUS_HEADERS") or "").split(",") if h.strip()]
    return OperatorConfig(
        namespaces=[n.strip() for n in namespaces],
        label_selector=args.label_selector,
        prometheus_url=args.prometheus_url,
        prometheus_token_file=args.prometheus_token_file,
        prometheus_headers=_headers(header_values),
        prometheus_ca_file=args.prometheus_ca_file,
        prometheus_insecure=args.prometheus_insecure,
        evaluation_interval=args.evaluation_interval,
        freshness=args.freshness,
        rule_schema=args.rule_schema,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        log_format=args.log_format,
        peering=args.peering,
        peering_name=args.peering_name,
        kubeconfig=args.kubeconfig,
        verbose=args.verbose,
    )


def parse_selector(text: Optional[str]) -> dict[str, str]:
    """``a=b,c=d`` -> ``{"a": "b", "c": "d"}`` (equality selectors only, as kopf's ``labels=`` filter takes)."""
    result: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"label selector {text!r}: only key=value pairs are supported")
        result[key.strip()] = value.strip().lstrip("=")
    return result
