"""``kpi-operator run``'s settings: each is a flag and an environment variable, spelled once in ``OperatorConfig``."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import pytest

from kpi_operator.runtime import config as operator_config
from kpi_operator.runtime.config import OperatorConfig, environment_variable

# A value per setting, different from its default, as text in the environment and as the parsed value.
VALUES: dict[str, tuple[str, Any]] = {
    "namespaces": ("shop,platform", ["shop", "platform"]),
    "label_selector": ("team=payments", "team=payments"),
    "prometheus_url": ("http://mimir:8080/prometheus", "http://mimir:8080/prometheus"),
    "prometheus_token_file": ("/var/run/token", "/var/run/token"),
    "prometheus_headers": ("X-Scope-OrgID: a,X-Team: b", {"X-Scope-OrgID": "a", "X-Team": "b"}),
    "prometheus_ca_file": ("/etc/ca.pem", "/etc/ca.pem"),
    "prometheus_insecure": ("true", True),
    "prometheus_timeout": ("2.5", 2.5),
    "evaluation_interval": ("15", 15.0),
    "freshness": ("120", 120.0),
    "rule_schema": ("sloth", "sloth"),
    "allow_template_queries": ("true", True),
    "metrics_port": ("9100", 9100),
    "metrics_host": ("127.0.0.1", "127.0.0.1"),
    "log_format": ("json", "json"),
    "max_clock_skew": ("15", 15.0),
    "api_timeout": ("4", 4.0),
    "peering": ("1", True),
    "peering_name": ("kpi-operator-b", "kpi-operator-b"),
    "leader_election": ("true", True),
    "leader_election_namespace": ("kpi-system", "kpi-system"),
    "leader_election_id": ("kpi-operator-b", "kpi-operator-b"),
    "leader_election_lease_duration": ("30", 30),
    "leader_election_renew_deadline": ("20", 20.0),
    "leader_election_retry_period": ("4", 4.0),
    "kubeconfig": ("/root/.kube/other", "/root/.kube/other"),
}


def parse(args: list[str]) -> OperatorConfig:
    parser = argparse.ArgumentParser()
    operator_config.add_arguments(parser)
    return operator_config.from_args(parser.parse_args(args))


def test_every_setting_with_a_variable_is_in_the_table() -> None:
    with_variable = {f.name for f in dataclasses.fields(OperatorConfig) if environment_variable(f) is not None}
    assert with_variable == set(VALUES)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_each_setting_reads_its_environment_variable(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    setting = next(f for f in dataclasses.fields(OperatorConfig) if f.name == name)
    variable = environment_variable(setting)
    assert variable is not None
    monkeypatch.setenv(variable, VALUES[name][0])
    assert getattr(parse([]), name) == VALUES[name][1]
    assert getattr(OperatorConfig(), name) != VALUES[name][1]


def test_a_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_OPERATOR_PROMETHEUS_URL", "http://from-env:9090")
    monkeypatch.setenv("KPI_OPERATOR_NAMESPACES", "a,b")
    config = parse(["--prometheus-url", "http://from-flag:9090", "--namespace", "c"])
    assert config.prometheus_url == "http://from-flag:9090" and config.namespaces == ["c"]


def test_the_prometheus_client_gets_every_prometheus_setting() -> None:
    config = parse(["--prometheus-url", "https://p", "--prometheus-header", "X-Scope-OrgID: t", "--prometheus-insecure", "--prometheus-timeout", "3"])
    settings = config.prometheus
    assert (settings.url, settings.headers, settings.insecure, settings.timeout) == ("https://p", {"X-Scope-OrgID": "t"}, True, 3.0)


def test_a_header_without_a_colon_is_a_usage_error() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected 'Name: value'"):
        parse(["--prometheus-header", "X-Scope-OrgID"])


def test_leader_election_is_off_for_a_local_run_and_a_flag_turns_off_what_the_environment_turns_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse([]).leader_election is False
    monkeypatch.setenv("KPI_OPERATOR_LEADER_ELECTION", "true")
    assert parse([]).leader_election is True
    assert parse(["--no-leader-election"]).leader_election is False


LEADER_ELECTION_PROBLEMS = {
    "Leader election with kopf peering is refused: peering would only pause the leader.": (["--leader-election", "--peering"], "exclude each other"),
    "A renew deadline not shorter than the lease is refused.": (["--leader-election", "--leader-election-renew-deadline", "15"], "renew deadline"),
    "A retry period not shorter than the renew deadline is refused.": (["--leader-election", "--leader-election-retry-period", "10"], "retry period"),
}


@pytest.mark.parametrize("args, problem", LEADER_ELECTION_PROBLEMS.values(), ids=LEADER_ELECTION_PROBLEMS.keys())
def test_leader_election_settings_that_cannot_keep_one_leader_are_problems(args: list[str], problem: str) -> None:
    problems = parse(args).problems()
    assert len(problems) == 1 and problem in problems[0], problems
    assert parse(args[1:]).problems() == [], "the same settings without leader election are not checked"
