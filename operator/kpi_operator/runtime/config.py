"""Operator configuration: every setting is a flag of ``kpi-operator run`` and an environment variable.

Each setting is written once, as a field of ``OperatorConfig`` whose metadata gives its flag, environment
variable and help; the parser and the reading of the parsed flags are derived from those fields, and the
Prometheus client's settings from the ``prometheus_*`` fields. The environment form
(``KPI_OPERATOR_PROMETHEUS_URL`` ...) is what the Helm chart and the manifests set; a flag wins over the
environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ..adapters.prometheus import PrometheusSettings
from ..api.redaction import redact
from ..election import Timing

ENV_PREFIX = "KPI_OPERATOR_"


def _setting(
    default: Any, help: str, *, env: Optional[str] = "", flag: str = "", choices: tuple[str, ...] = (), repeat: str = "", negatable: bool = False
) -> Any:
    """A config field with its command-line and environment spelling.

    ``env``: the variable's name after ``KPI_OPERATOR_`` (default: the field's name upper-cased; ``None``: no
    variable; a name starting with ``$`` is read as is, without the prefix). ``repeat``: a repeatable flag
    whose environment form is comma-separated; ``"headers"`` parses ``Name: value`` pairs. ``negatable``: a
    boolean that also has a ``--no-`` flag, to turn off what the environment turns on.
    """
    metadata = {"help": help, "env": env, "flag": flag, "choices": choices, "repeat": repeat, "negatable": negatable}
    if isinstance(default, (list, dict)):
        return field(default_factory=type(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class OperatorConfig:
    """Every setting of ``kpi-operator run``; the ``prometheus_*`` ones take their defaults from the adapter's
    ``PrometheusSettings``, which the CLI's ``gate`` command uses as well."""

    namespaces: list[str] = _setting([], "watch only this namespace; repeatable (default: all namespaces)", flag="--namespace", repeat="list")
    label_selector: Optional[str] = _setting(None, "watch only objects with these labels, e.g. team=payments")
    prometheus_url: str = _setting(PrometheusSettings.url, "Prometheus-compatible query API")
    prometheus_token_file: Optional[str] = _setting(PrometheusSettings.token_file, "bearer token file, re-read on every query")
    prometheus_headers: dict[str, str] = _setting({}, "extra header such as 'X-Scope-OrgID: tenant-a'; repeatable", flag="--prometheus-header", repeat="headers")
    prometheus_ca_file: Optional[str] = _setting(PrometheusSettings.ca_file, "CA bundle for an https Prometheus")
    prometheus_insecure: bool = _setting(PrometheusSettings.insecure, "do not verify Prometheus' TLS certificate")
    prometheus_timeout: float = _setting(PrometheusSettings.timeout, "seconds one Prometheus query may take in all (connect, TLS, answer); one attempt, no retries")
    evaluation_interval: float = _setting(30.0, "seconds between evaluation cycles")
    freshness: float = _setting(300.0, "samples older than this many seconds count as no data")
    api_timeout: float = _setting(10.0, "seconds to wait for one Kubernetes API request")
    max_clock_skew: float = _setting(60.0, "seconds the operator's clock may differ from Prometheus' before every gate holds with an error")
    rule_schema: str = _setting("native", "default rule schema", choices=("native", "sloth"))
    allow_template_queries: bool = _setting(
        False, "allow the query function in alert labels and annotations ({{ query ... }} runs PromQL each time the alert fires); off: such an object is Stalled"
    )
    metrics_port: int = _setting(8080, "port of /metrics and /healthz; 0 picks a free one")
    metrics_host: str = _setting("0.0.0.0", "address of /metrics and /healthz")
    log_format: str = _setting("text", "log format", choices=("text", "json"))
    peering: bool = _setting(False, "kopf peering: one active replica among several")
    peering_name: str = _setting("kpi-operator", "peering object name")
    leader_election: bool = _setting(
        False, "hold a coordination.k8s.io Lease before reconciling: one active replica, the others stand by (the chart and manifests turn it on)", negatable=True
    )
    leader_election_namespace: Optional[str] = _setting(None, "namespace of the Lease (default: the pod's own namespace, else default)")
    leader_election_id: str = _setting("kpi-operator", "name of the Lease")
    leader_election_lease_duration: int = _setting(Timing.lease_duration, "seconds a standby waits without seeing the Lease renewed before it takes over")
    leader_election_renew_deadline: float = _setting(Timing.renew_deadline, "seconds the leader may go without renewing the Lease; then it stops and exits")
    leader_election_retry_period: float = _setting(Timing.retry_period, "seconds between two reads or renewals of the Lease")
    kubeconfig: Optional[str] = _setting(None, "kubeconfig file when not in a cluster", env="$KUBECONFIG")
    verbose: bool = _setting(False, "debug logging", env=None)

    @property
    def prometheus(self) -> PrometheusSettings:
        """The Prometheus client's settings: the ``prometheus_<name>`` fields, by name."""
        return PrometheusSettings(**{f.name: getattr(self, "prometheus_" + f.name) for f in dataclasses.fields(PrometheusSettings)})

    @property
    def election_timing(self) -> Timing:
        """Leader election's settings: the ``leader_election_<name>`` fields, by name."""
        return Timing(**{f.name: getattr(self, "leader_election_" + f.name) for f in dataclasses.fields(Timing)})

    def problems(self) -> list[str]:
        """Settings that cannot work together (``kpi-operator run`` exits 2 with them)."""
        if not self.leader_election:
            return []
        found = [f"--leader-election: {problem}" for problem in self.election_timing.problems()]
        if self.peering:
            found.append("--leader-election and --peering exclude each other: the Lease keeps one replica active, kopf's peering must be off")
        return found


def environment_variable(setting: "dataclasses.Field[Any]") -> Optional[str]:
    """The environment variable a setting reads, or None."""
    env = setting.metadata["env"]
    if env is None:
        return None
    if env.startswith("$"):
        return env[1:]
    return ENV_PREFIX + (env or setting.name.upper())


def environment_variables() -> set[str]:
    """Every variable the configuration reads (the chart and the manifests may set only these)."""
    return {name for f in dataclasses.fields(OperatorConfig) if (name := environment_variable(f)) is not None}


def _bool(text: Optional[str]) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


def _headers(values: list[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        if ":" not in value:
            # A header is often a credential (Authorization, a tenant token): masked even when malformed.
            raise argparse.ArgumentTypeError(f"--prometheus-header {redact(value)!r}: expected 'Name: value'")
        name, _, content = value.partition(":")
        headers[name.strip()] = content.strip()
    return headers


def _flag(setting: "dataclasses.Field[Any]") -> str:
    return setting.metadata["flag"] or "--" + setting.name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` flags; defaults come from the environment (``KPI_OPERATOR_*``), read when the parser is built."""
    for setting in dataclasses.fields(OperatorConfig):
        variable = environment_variable(setting)
        text = os.environ.get(variable) if variable else None
        meta = setting.metadata
        help_text = meta["help"] + (f" (env {variable.removeprefix(ENV_PREFIX)}{', comma-separated' if meta['repeat'] else ''})" if variable else "")
        dest = setting.name
        if meta["repeat"]:
            parser.add_argument(_flag(setting), dest=dest, action="append", default=None, help=help_text)
        elif setting.type == "bool":
            action = argparse.BooleanOptionalAction if meta["negatable"] else "store_true"
            parser.add_argument(_flag(setting), dest=dest, action=action, default=_bool(text), help=help_text)
        else:
            convert = {"float": float, "int": int}.get(str(setting.type), str)
            default = convert(text) if text else setting.default
            parser.add_argument(_flag(setting), dest=dest, type=convert, default=default, choices=meta["choices"] or None, help=help_text)


def from_args(args: argparse.Namespace) -> OperatorConfig:
    """The configuration from parsed flags; repeatable flags fall back to their comma-separated variable."""
    values: dict[str, Any] = {}
    for setting in dataclasses.fields(OperatorConfig):
        value = getattr(args, setting.name)
        repeat = setting.metadata["repeat"]
        if repeat:
            variable = environment_variable(setting)
            items = value if value else [v for v in (os.environ.get(variable or "") or "").split(",") if v.strip()]
            value = _headers(items) if repeat == "headers" else [v.strip() for v in items]
        values[setting.name] = value
    return OperatorConfig(**values)


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
