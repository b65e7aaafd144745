"""The kustomize base and the Helm chart rendered offline, as lists of objects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kpi-operator"
MANIFESTS = ROOT / "manifests"
CRDS = ROOT / "crds"


def documents(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of ``text``."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(path: Path = MANIFESTS) -> list[dict[str, Any]]:
    """``kubectl kustomize <path>``: needs only the kubectl client, no cluster."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` renders the kustomize base (client only, no cluster)")
    result = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {path.name}/ failed:\n{result.stderr}"
    return documents(result.stdout)


def helm() -> Any:
    """The Helm v4 engine of helm-python-sdk (no helm binary, no network for rendering and linting)."""
    import helm_python  # a declared dev dependency: a broken install fails here, it does not skip

    return helm_python


def render(values: Optional[dict[str, Any]] = None, *, name: str = "kpi-operator", namespace: str = "kpi-operator") -> dict[str, str]:
    """Template path -> rendered text, as ``helm template`` renders them (hooks included, crds/ not)."""
    with helm().Chart.load(CHART) as chart:
        rendered: dict[str, str] = chart.render(values or {}, name=name, namespace=namespace)
    return rendered


def render_chart(values: Optional[dict[str, Any]] = None, *, name: str = "kpi-operator", namespace: str = "kpi-operator") -> list[dict[str, Any]]:
    """The chart's objects for ``values``, without NOTES.txt and without crds/."""
    objects: list[dict[str, Any]] = []
    for path, text in sorted(render(values, name=name, namespace=namespace).items()):
        if not path.endswith("NOTES.txt"):
            objects.extend(documents(text))
    return objects


def chart_crds() -> list[dict[str, Any]]:
    """The CRDs Helm installs from the chart's crds/ folder (never templated)."""
    with helm().Chart.load(CHART) as chart:
        return [doc for crd in chart.crds for doc in documents(crd["data"])]


def one(objects: list[dict[str, Any]], kind: str, name: Optional[str] = None) -> dict[str, Any]:
    """The single object of ``kind`` (and ``name``) among ``objects``."""
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)
