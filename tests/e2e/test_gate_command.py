"""``kpi-operator gate`` against a live Prometheus: exit 0 pass, 1 fail, 2 inconclusive or unreachable.

The command reads the objects' own queries (no recording rules are loaded into this Prometheus), as a CI/CD
pipeline step would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpi_operator_devtools.prometheus_server import PrometheusServer
from kpi_operator_devtools.synthetic_exporter import Exporter

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prom() -> Any:
    exporter = Exporter(service="unused").start()
    exporter.set_traffic("canary", rps=20, error_ratio=0.0, service="healthy")
    exporter.set_traffic("canary", rps=20, error_ratio=0.5, service="broken")
    exporter.set_gauge("conversion_ratio", 0.02)
    server = PrometheusServer([exporter.target]).start()
    try:
        # Two scrapes of both services are enough for rate() over any window.
        server.wait_for_series('count_over_time(http_requests_total{service="broken",code="500"}[1m]) >= 3', timeout=60)
        server.wait_for_series('count_over_time(http_requests_total{service="healthy"}[1m]) >= 3', timeout=60)
        yield server
    finally:
        server.stop()
        exporter.stop()


def slo_file(tmp_path: Path, service: str) -> Path:
    body = {
        "apiVersion": "kpi.dev/v1alpha1",
        "kind": "SLO",
        "metadata": {"name": f"{service}-canary", "namespace": "shop"},
        "spec": {
            "service": service,
            "owner": "team",
            "objective": 99.9,
            "indicator": {
                "ratio": {
                    "errors": f'sum(rate(http_requests_total{{service="{service}",track="canary",code=~"5.."}}[{{{{.window}}}}]))',
                    "total": f'sum(rate(http_requests_total{{service="{service}",track="canary"}}[{{{{.window}}}}]))',
                }
            },
            "gate": {"selector": {"matchLabels": {"app": service}}},
        },
    }
    path = tmp_path / f"{service}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kpi_operator.cli", "gate", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_a_healthy_canary_passes_with_exit_0(prom: Any, tmp_path: Path) -> None:
    result = gate("-f", str(slo_file(tmp_path, "healthy")), "--prometheus", prom.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pass" in result.stdout and "SLO/shop/healthy-canary" in result.stdout


def test_a_failing_canary_fails_with_exit_1_and_says_why(prom: Any, tmp_path: Path) -> None:
    result = gate("-f", str(slo_file(tmp_path, "healthy")), "-f", str(slo_file(tmp_path, "broken")), "--prometheus", prom.url)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(l for l in result.stdout.splitlines() if "broken-canary" in l)
    assert " fail " in line and "0.0144" in line  # the page threshold 14.4 x 0.001 is shown


def test_no_data_is_inconclusive_with_exit_2(prom: Any, tmp_path: Path) -> None:
    result = gate("-f", str(slo_file(tmp_path, "silent")), "--prometheus", prom.url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "inconclusive" in result.stdout


def test_an_unreachable_prometheus_is_exit_2(tmp_path: Path) -> None:
    with PrometheusServer() as stopped:
        url = stopped.url
    result = gate("-f", str(slo_file(tmp_path, "healthy")), "--prometheus", url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error" in result.stdout and "unreachable" in result.stdout


def test_a_kpi_below_its_critical_threshold_fails(prom: Any, tmp_path: Path) -> None:
    path = tmp_path / "kpi.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kpi.dev/v1alpha1",
                "kind": "KPI",
                "metadata": {"name": "conversion"},
                "spec": {"owner": "growth", "query": "avg(conversion_ratio)", "target": {"op": ">=", "value": 0.03}, "thresholds": {"critical": 0.025}},
            }
        )
    )
    result = gate("-f", str(path), "--prometheus", prom.url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0.02" in result.stdout and "0.025" in result.stdout


def test_an_invalid_file_is_exit_1_with_the_field(prom: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: kpi.dev/v1alpha1\nkind: SLO\nmetadata: {name: x}\nspec: {owner: o}\n")
    result = gate("-f", str(path), "--prometheus", prom.url)
    assert result.returncode == 1 and "spec.service: required field is missing" in result.stderr
