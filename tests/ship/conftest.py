"""Fixtures of the ship tests."""

from __future__ import annotations

from typing import Any

import pytest

from ship.rendering import kustomize


@pytest.fixture(scope="session")
def kustomized() -> list[dict[str, Any]]:
    """Every object of ``kubectl kustomize manifests/``."""
    return kustomize()
