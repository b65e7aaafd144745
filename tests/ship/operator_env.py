"""What the operator makes of a Deployment's environment: the ``OperatorConfig`` that ``kpi-operator run`` builds."""

from __future__ import annotations

import argparse
import os
from typing import Any, Sequence

import pytest

from kpi_operator.runtime import config as operator_config


def known_variables() -> set[str]:
    """Every ``KPI_OPERATOR_*`` variable that the configuration reads."""
    return {name for name in operator_config.environment_variables() if name.startswith(operator_config.ENV_PREFIX)}


def container_env(deployment: dict[str, Any], container: str = "operator") -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == container).get("env") or []


def config_from_env(env: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, args: Sequence[str] = ()) -> operator_config.OperatorConfig:
    """The configuration ``kpi-operator run`` would build in a container with ``env`` (literal values only)."""
    for name in list(os.environ):
        if name.startswith(operator_config.ENV_PREFIX):
            monkeypatch.delenv(name)
    for variable in env:
        if "value" in variable:
            monkeypatch.setenv(variable["name"], str(variable["value"]))
    parser = argparse.ArgumentParser()
    operator_config.add_arguments(parser)  # defaults are read from the environment here
    return operator_config.from_args(parser.parse_args(list(args)))
