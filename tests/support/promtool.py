"""Run Prometheus' own rule checker and rule unit-test runner (``promtool``) on rules built in a test.

Why: a rule group is only known to be valid when Prometheus' parser accepts it (``promtool check rules``), and
an alert's timing is only known when Prometheus' rule engine evaluates it over synthetic series
(``promtool test rules``), which checks exact timing without waiting in real time.

Both helpers write temp files, run promtool and return ``(ok, output)``: ``ok`` is promtool's exit status
0, ``output`` its stdout and stderr together, so a failing assertion shows promtool's own message.
``promtool`` comes from Debian's ``prometheus`` package; tests use :data:`requires_promtool` to skip (with
:data:`SKIP_REASON`) only when the binary is absent.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import pytest
import yaml

__all__ = [
    "SKIP_REASON",
    "RULE_FILE_NAME",
    "promtool_path",
    "requires_promtool",
    "rules_yaml",
    "check_rules",
    "test_rules",
]

SKIP_REASON = "promtool not installed: apt-get install prometheus"
#: Name of the rule file next to the test spec; the spec's ``rule_files`` is set to it.
RULE_FILE_NAME = "rules.yml"

#: Rule groups as a list of group dicts, a ``{"groups": [...]}`` document, or that document as YAML text.
Rules = Union[str, Mapping[str, Any], Sequence[Mapping[str, Any]]]

requires_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason=SKIP_REASON)


def promtool_path() -> str:
    """Path of ``promtool``; raises FileNotFoundError with the install hint when missing."""
    path = shutil.which("promtool")
    if path is None:
        raise FileNotFoundError(SKIP_REASON)
    return path


def rules_yaml(rules: Rules) -> str:
    """The rule file text for ``rules`` (YAML text is passed through unchanged, so bad YAML can be tested)."""
    if isinstance(rules, str):
        return rules
    document = dict(rules) if isinstance(rules, Mapping) else {"groups": [dict(g) for g in rules]}
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def _run(args: Sequence[str], cwd: Path, timeout: float) -> tuple[bool, str]:
    proc = subprocess.run(
        [promtool_path(), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
        check=False,
    )
    return proc.returncode == 0, proc.stdout.decode("utf-8", "replace")


def check_rules(groups_or_yaml_text: Rules, *, lint_fatal: bool = True, timeout: float = 60.0) -> tuple[bool, str]:
    """``promtool check rules`` on the given groups. With ``lint_fatal`` (default) a duplicate rule (same name
    and labels twice) fails too, since Prometheus would then write two rules into one series."""
    with tempfile.TemporaryDirectory(prefix="kpi-promtool-") as tmp:
        path = Path(tmp) / RULE_FILE_NAME
        path.write_text(rules_yaml(groups_or_yaml_text))
        args = ["check", "rules", *(["--lint-fatal"] if lint_fatal else []), path.name]
        return _run(args, Path(tmp), timeout)


def test_rules(rule_groups: Rules, test_spec: Mapping[str, Any], *, timeout: float = 120.0) -> tuple[bool, str]:
    """``promtool test rules`` with ``test_spec`` (the unit-test file as a dict: ``evaluation_interval``,
    ``tests: [{interval, input_series, alert_rule_test, promql_expr_test}]``); its ``rule_files`` is set to
    the file holding ``rule_groups``, replacing any given."""
    spec = dict(test_spec)
    spec["rule_files"] = [RULE_FILE_NAME]
    with tempfile.TemporaryDirectory(prefix="kpi-promtool-") as tmp:
        (Path(tmp) / RULE_FILE_NAME).write_text(rules_yaml(rule_groups))
        (Path(tmp) / "tests.yml").write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=False))
        return _run(["test", "rules", "tests.yml"], Path(tmp), timeout)


# pytest would collect a module-level function called test_* from any test module that imports it by name.
test_rules.__test__ = False  # type: ignore[attr-defined]
