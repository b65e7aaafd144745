"""Suite-wide options: ``--update-golden`` rewrites golden files instead of comparing with them."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# In CI, property tests draw the same examples every run: a red build then always means a change, never a new
# random draw. Locally they explore anew each run (and keep what they find in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files (examples/_gen, tests/golden/testdata) from the current generator; review the diff",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
