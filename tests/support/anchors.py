"""Access to ``../shared/anchors`` (public data files of Sloth, Pyrra, OpenSLO), skipping cleanly without it.

The anchors live beside the project in the developers' workspace, not in the repository; a user's clone has none,
so every test that reads them skips with that reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ANCHORS = Path(os.environ.get("KPI_OPERATOR_ANCHORS", Path(__file__).resolve().parents[2].parent / "shared" / "anchors"))
SKIP_REASON = f"the anchor files (../shared/anchors, public Sloth/Pyrra/OpenSLO data) are not beside this clone: {ANCHORS}"


def anchor(relative: str) -> Path:
    """The path of one anchor file; skips the calling test when the anchors folder is absent."""
    if not ANCHORS.is_dir():
        pytest.skip(SKIP_REASON)
    path = ANCHORS / relative
    if not path.exists():
        pytest.fail(f"anchor file missing from {ANCHORS}: {relative}")
    return path


def render_sloth_golden(text: str, version: str = "dev") -> str:
    """A Sloth ``.tpl`` golden rendered as Sloth's own test does (see anchors/SOURCES.md)."""
    import re

    text = text.replace("{{ .version }}", version)
    return re.sub(r'\{\{"(\{\{[^}]*\}\})"\}\}', r"\1", text)
