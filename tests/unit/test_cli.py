"""``kpi-operator validate`` and ``generate``: exit codes and messages that name the file, document and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kpi_operator.cli import main

ROOT = Path(__file__).resolve().parents[2]

VALID = {
    "apiVersion": "kpi.dev/v1alpha1",
    "kind": "SLO",
    "metadata": {"name": "api", "namespace": "shop"},
    "spec": {
        "service": "api",
        "owner": "team",
        "objective": 99.9,
        "indicator": {"ratio": {"errors": "sum(rate(e[{{.window}}]))", "total": "sum(rate(t[{{.window}}]))"}},
    },
}


def with_spec(**changes: object) -> dict:
    body = yaml.safe_load(yaml.safe_dump(VALID))
    for key, value in changes.items():
        if value is None:
            body["spec"].pop(key, None)
        else:
            body["spec"][key] = value
    return body


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *documents: object, command: str = "validate") -> tuple[int, str, str]:
    path = tmp_path / "in.yaml"
    path.write_text("".join("---\n" + (d if isinstance(d, str) else yaml.safe_dump(d)) for d in documents))
    code = main([command, "-f", str(path)])
    out, err = capsys.readouterr()
    return code, out, err.replace(str(path), "in.yaml")


@pytest.mark.parametrize(
    "document, expected",
    [
        pytest.param("a: [b\n", "in.yaml: document 1: not valid YAML", id="Not YAML is refused with the line"),
        pytest.param({**VALID, "apiVersion": "v1"}, "document 1 (SLO/api): apiVersion: expected kpi.dev/v1alpha1", id="A wrong apiVersion is refused"),
        pytest.param({**VALID, "kind": "Slo"}, "document 1 (Slo/api): kind: expected one of SLO, KPI", id="A wrong kind is refused"),
        pytest.param(with_spec(objectve=99), "(SLO/api): spec.objectve: unknown field", id="A typo is an unknown field"),
        pytest.param(with_spec(owner=None), "(SLO/api): spec.owner: required field is missing", id="A missing owner is refused"),
        pytest.param(with_spec(objective=0), "(SLO/api): spec.objective: Input should be greater than 0", id="An objective of 0 is refused"),
        pytest.param(with_spec(objective=100), "(SLO/api): spec.objective: Input should be less than 100", id="An objective of 100 is refused"),
        pytest.param(with_spec(objective="high"), "(SLO/api): spec.objective: must be a number of percent", id="A text objective is refused"),
        pytest.param(with_spec(window="30 days"), "(SLO/api): spec.window: not a duration", id="A bad duration is refused"),
        pytest.param(
            with_spec(indicator={"ratio": {"errors": "sum(rate(e[{{.window}}])", "total": "sum(rate(t[{{.window}}]))"}}),
            "(SLO/api): spec.indicator.ratio.errors: invalid PromQL",
            id="A PromQL syntax error is refused",
        ),
        pytest.param(with_spec(indicator={"raw": {"errorRatio": "sum(rate(e[5m]))"}}), "spec.indicator.raw.errorRatio: the query must use {{.window}}", id="A raw query without the window is refused"),
        pytest.param(
            with_spec(indicator={"raw": {"errorRatio": "x[{{.window}}]"}, "ratio": {"errors": "e[{{.window}}]", "total": "t[{{.window}}]"}}),
            "spec.indicator: exactly one of ratio, latency, raw is required (found: ratio, raw)",
            id="Two indicators are refused",
        ),
        pytest.param(with_spec(labels={"team-name": "x"}), "spec.labels: invalid label name 'team-name'", id="An invalid label name is refused"),
        pytest.param({**VALID, "metadata": {"name": "API_v2"}}, "metadata.name: invalid name 'API_v2'", id="An invalid object name is refused"),
        pytest.param(with_spec(gate={"selector": {"matchLabels": {"a": "b"}}, "action": "delete"}), "spec.gate.action: Input should be 'rollback', 'pause' or 'scaleToZero'", id="An invalid gate action is refused"),
        pytest.param(
            with_spec(objective=90.0, window="90d"),
            "in.yaml: document 1 (SLO/api): spec.objective: 90 with window 90d gives every page-tier window pair an error-ratio threshold at or above 1",
            id="An SLO whose page tier can never fire is refused, naming the field",
        ),
        pytest.param(
            {"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "metadata": {"name": "k"}, "spec": {"owner": "o", "query": "avg(x)", "target": {"op": ">=", "value": 1}, "thresholds": {"critical": 2}}},
            "thresholds.critical 2 is on the good side of the target",
            id="KPI thresholds on the wrong side are refused",
        ),
    ],
)
def test_invalid_input_exits_1_with_file_document_field_and_message(tmp_path: Path, capsys: pytest.CaptureFixture[str], document: object, expected: str) -> None:
    code, out, err = run(tmp_path, capsys, document)
    assert code == 1
    assert expected in err, err
    assert "Traceback" not in err


def test_one_bad_document_does_not_hide_the_errors_of_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(tmp_path, capsys, with_spec(owner=None), VALID, with_spec(objective=0))
    assert code == 1
    assert "document 1 (SLO/api): spec.owner" in err and "document 3 (SLO/api): spec.objective" in err
    assert "2 problem(s) in 2 of 3 document(s)" in err


def test_a_tier_that_can_never_fire_counts_its_document_as_invalid_and_fails_the_gate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    silent = with_spec(objective=99, window="3650d")
    code, _, err = run(tmp_path, capsys, VALID, silent)
    assert code == 1 and "1 problem(s) in 1 of 2 document(s)" in err
    assert "document 2 (SLO/api): spec.objective: 99 with window 3650d gives every page-tier window pair" in err
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(silent))
    assert main(["gate", "-f", str(path), "--prometheus", "http://127.0.0.1:1"]) == 1  # refused before any query
    assert "spec.objective: 99 with window 3650d" in capsys.readouterr().err


def test_generate_writes_nothing_when_any_input_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(tmp_path, capsys, VALID, with_spec(owner=None), command="generate")
    assert code == 1 and out == ""


def test_valid_input_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(tmp_path, capsys, VALID)
    assert code == 0 and "1 document(s) valid" in out
    code, out, _ = run(tmp_path, capsys, VALID, command="generate")
    assert code == 0 and yaml.safe_load(out)["kind"] == "PrometheusRule"


def test_the_plain_rule_file_output_and_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(yaml.safe_dump(VALID)))
    assert main(["generate", "-f", "-", "--output", "rules", "--rule-schema", "sloth"]) == 0
    groups = yaml.safe_load(capsys.readouterr().out)["groups"]
    assert [g["name"] for g in groups][0] == "sloth-slo-sli-recordings-api-api"


@pytest.mark.parametrize("argv", [["generate"], ["validate", "--rule-schema", "x", "-f", "a"], ["nope"], []], ids=["missing -f", "bad choice", "unknown command", "no command"])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        code = main(argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2


def test_a_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", "/nonexistent/slo.yaml"]) == 2
    assert "no such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["generate", "validate", "import", "export", "gate", "run", "demo"])
def test_every_command_has_help(command: str) -> None:
    result = subprocess.run([sys.executable, "-m", "kpi_operator.cli", command, "--help"], capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "operator"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0 and "usage: kpi-operator" in result.stdout


def test_demo_without_the_devtools_distribution_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "kpi_operator_devtools", None)
    assert main(["demo", "--fast"]) == 2
    err = capsys.readouterr().err
    assert "kpi-operator-devtools" in err and "pip install -e ./devtools" in err and "make demo" in err


def test_directories_skip_generated_folders(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-f", str(ROOT / "examples")]) == 0
    assert "7 document(s) valid" in capsys.readouterr().out
