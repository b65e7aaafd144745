"""Every example's generated rules are kept beside it in ``examples/_gen/`` and must be current.

A reader sees what a spec becomes without running anything; a change to the generator shows up as a diff of
these files in review. Regenerate with ``make golden`` (``pytest tests/golden --update-golden``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def generate(path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "kpi_operator.cli", "generate", "-f", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "operator"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_generated_rules_of_the_example_are_current(example: Path, update_golden: bool) -> None:
    golden = ROOT / "examples" / "_gen" / example.name
    output = generate(example)
    if update_golden:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(output)
    assert golden.exists(), f"{golden} is missing: run `make golden`"
    assert output == golden.read_text(), f"{golden} is stale: run `make golden` and review the diff"
