"""The demo runs in CI in its fast mode and its outcome is asserted: the canary was rolled back by the SLO's
gate, the stable Deployment was not touched, and the Events say so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def test_the_demo_rolls_back_the_canary_and_touches_nothing_else(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    result = subprocess.run(
        [sys.executable, "-m", "kpi_operator.cli", "demo", "--fast", "--summary-json", str(summary)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    outcome = json.loads(summary.read_text())
    assert outcome["rolledBack"] is True
    assert (outcome["fromRevision"], outcome["toRevision"], outcome["canaryImage"]) == ("2", "1", "checkout:1.4.2")
    assert outcome["stableUntouched"] is True
    assert outcome["events"].count("GateActed") == 2  # one on the SLO, one on the Deployment
    assert "Demo complete" in result.stdout
    assert "Clean up" in result.stdout
