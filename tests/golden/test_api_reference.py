"""``docs/api.md`` is generated from the CRDs' field descriptions and must be current.

The CRDs carry a description on every field (what ``kubectl explain`` shows); the reference page is the same
text laid out as tables, so the docs cannot drift from the API. Regenerate with ``make golden``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import yaml

ROOT = Path(__file__).resolve().parents[2]
HEADER = """# KPI and SLO reference (`kpi.dev/v1alpha1`)

Generated from the descriptions in `crds/` by `tests/golden/test_api_reference.py` (`make golden`); the same
text is what `kubectl explain slo.spec` and `kubectl explain kpi.spec` show. Cross-field rules (exactly one
indicator, thresholds on the bad side of the target, ...) are CEL rules in the CRDs and validators in the
models; the operator also checks PromQL, which the schema cannot.
"""


def _type(node: dict[str, Any]) -> str:
    kind = node.get("type", "object")
    if kind == "array":
        return f"list of {_type(node.get('items', {}))}"
    if kind == "object" and "additionalProperties" in node:
        return f"map of {_type(node['additionalProperties'])}"
    extras = []
    if "enum" in node:
        extras.append(" \\| ".join(f"`{v}`" for v in node["enum"]))
    if "default" in node and not isinstance(node["default"], dict):
        extras.append(f"default `{node['default']}`")
    return kind + (f" ({', '.join(extras)})" if extras else "")


def _rows(node: dict[str, Any], path: str, required: set[str]) -> Iterator[tuple[str, str, str]]:
    for name, child in (node.get("properties") or {}).items():
        field = f"{path}.{name}" if path else name
        description = " ".join(str(child.get("description", "")).split())
        marker = " (required)" if name in required else ""
        yield field, _type(child) + marker, description.replace("|", "\\|")
        target = child.get("items", {}) if child.get("type") == "array" else child
        if target.get("properties"):
            yield from _rows(target, field + ("[]" if child.get("type") == "array" else ""), set(target.get("required", [])))


def render() -> str:
    out = [HEADER]
    for kind, file in (("SLO", "kpi.dev_slos.yaml"), ("KPI", "kpi.dev_kpis.yaml")):
        crd = yaml.safe_load((ROOT / "crds" / file).read_text())
        version = crd["spec"]["versions"][0]
        schema = version["schema"]["openAPIV3Schema"]
        out.append(f"\n## {kind}\n\n{' '.join(str(schema.get('description', '')).split())}\n")
        spec = schema["properties"]["spec"]
        out.append("\n| field | type | description |\n|---|---|---|")
        for field, kind_, description in _rows(spec, "spec", set(spec.get("required", []))):
            out.append(f"| `{field}` | {kind_} | {description} |")
        out.append("")
    return "\n".join(out)


def test_the_api_reference_is_current(update_golden: bool) -> None:
    target = ROOT / "docs" / "api.md"
    text = render()
    if update_golden:
        target.write_text(text)
    assert target.exists() and target.read_text() == text, "docs/api.md is stale: run `make golden`"
