"""``kpi-operator import`` and ``export``: exit 0 on success, 1 on input that cannot be converted, 2 on usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kpi_operator.cli import main

SLOTH = """\
version: prometheus/v1
service: api
labels: {owner: team-api}
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting: {name: ApiBurn}
"""
TIMESLICES = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: web}
spec:
  service: web
  indicatorRef: web-sli
  budgetingMethod: Timeslices
  timeWindow: [{duration: 1w, isRolling: true}]
  objectives: [{target: 0.99, timeSliceTarget: 0.9, timeSliceWindow: 1m}]
"""
OBJECTIVE_100 = SLOTH.replace("objective: 99.9", "objective: 100")
KPI_SLO = """\
apiVersion: kpi.dev/v1alpha1
kind: SLO
metadata: {name: checkout, namespace: shop}
spec:
  service: checkout
  owner: team-payments
  objective: 99.9
  window: 30d
  indicator:
    ratio:
      errors: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
      total: sum(rate(http_requests_total[{{.window}}]))
"""


@pytest.fixture
def write(tmp_path: Path):
    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_import_writes_kpi_dev_objects_and_exits_0(write, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "-f", write("sloth.yaml", SLOTH), "--namespace", "web"]) == 0
    (body,) = list(yaml.safe_load_all(capsys.readouterr().out))
    assert (body["kind"], body["metadata"]["name"], body["metadata"]["namespace"], body["spec"]["owner"]) == ("SLO", "availability", "web", "team-api")


def test_import_of_an_unsupported_feature_exits_1_naming_file_document_and_field(write, capsys: pytest.CaptureFixture[str]) -> None:
    path = write("openslo.yaml", TIMESLICES)
    assert main(["import", "-f", path]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}: document 1 (SLO/web): spec.budgetingMethod: Timeslices is not supported yet (only Occurrences)" in captured.err


def test_import_whose_result_is_invalid_exits_1_naming_the_produced_object(write, capsys: pytest.CaptureFixture[str]) -> None:
    path = write("sloth.yaml", OBJECTIVE_100)
    assert main(["import", "-f", path]) == 1
    assert f"{path}: document 1 (SLO/availability): spec.objective:" in capsys.readouterr().err


def test_import_of_two_objects_with_one_name_exits_1(write, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "-f", write("a.yaml", SLOTH), "-f", write("b.yaml", SLOTH)]) == 1
    assert "metadata.name: SLO/availability is also produced by" in capsys.readouterr().err


def test_import_of_invalid_yaml_exits_1(write, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "-f", write("bad.yaml", "slos: [\n")]) == 1
    assert "not valid YAML" in capsys.readouterr().err


def test_import_with_from_refuses_another_format_exits_1(write, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "--from", "pyrra", "-f", write("sloth.yaml", SLOTH)]) == 1
    assert "version: not a pyrra document (--from pyrra)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["import"], id="import without -f is a usage error"),
        pytest.param(["import", "-f", "/nonexistent/specs.yaml"], id="import of a missing file is a usage error"),
        pytest.param(["import", "--from", "nobl9", "-f", "-"], id="import --from an unknown format is a usage error"),
        pytest.param(["import", "--default-window", "a month", "-f", "-"], id="import with a malformed --default-window is a usage error"),
        pytest.param(["export", "-f", "-"], id="export without --to is a usage error"),
        pytest.param(["export", "--to", "sloth", "-f", "-"], id="export to an unknown format is a usage error"),
        pytest.param(["export", "--to", "openslo", "-f", "/nonexistent/slo.yaml"], id="export of a missing file is a usage error"),
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    assert code == 2


def test_export_writes_openslo_and_exits_0(write, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--to", "openslo", "-f", write("slo.yaml", KPI_SLO)]) == 0
    (document,) = list(yaml.safe_load_all(capsys.readouterr().out))
    assert (document["apiVersion"], document["kind"], document["spec"]["objectives"]) == ("openslo/v1", "SLO", [{"target": 0.999}])


def test_export_of_invalid_input_exits_1(write, capsys: pytest.CaptureFixture[str]) -> None:
    path = write("slo.yaml", KPI_SLO.replace("objective: 99.9", "objective: 120"))
    assert main(["export", "--to", "openslo", "-f", path]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and f"{path}: document 1 (SLO/checkout): spec.objective:" in captured.err


def test_export_of_an_slo_openslo_cannot_express_exits_1(write, capsys: pytest.CaptureFixture[str]) -> None:
    text = KPI_SLO.replace("window: 30d", "window: 90s") + "  alerting: {pageAlert: {disabled: true}, ticketAlert: {disabled: true}}\n"
    assert main(["export", "--to", "openslo", "-f", write("slo.yaml", text)]) == 1
    assert "spec.window: 90s is not a whole number of minutes" in capsys.readouterr().err


def test_export_skips_a_plain_kpi_with_a_note_and_exits_0(write, capsys: pytest.CaptureFixture[str]) -> None:
    kpi = (
        "apiVersion: kpi.dev/v1alpha1\nkind: KPI\nmetadata: {name: conversion}\n"
        "spec: {owner: growth, query: 'sum(rate(orders_total[{{.window}}]))', target: {op: '>=', value: 1}}\n"
    )
    assert main(["export", "--to", "openslo", "-f", write("kpi.yaml", kpi)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "(KPI/conversion): note: not exported" in captured.err
