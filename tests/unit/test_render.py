"""The YAML writer reads back equal with PyYAML, whatever the strings: the rules must mean what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_operator.api import load_text
from kpi_operator.cli.render import dump_yaml, dump_yaml_documents
from kpi_operator.rules import build_prometheus_rule, generate_groups

ROOT = Path(__file__).resolve().parents[2]

scalars = st.one_of(
    st.text(),
    st.text(alphabet="ab :-#{}[]|>&*!%@`'\"\\\n\t/.", max_size=20),
    st.text(alphabet=st.characters(min_codepoint=0x70, max_codepoint=0xa0), max_size=6).map(lambda t: t + "\nx"),
    st.sampled_from(["yes", "No", "on", "OFF", "null", "~", "true", "1h", "1e-05", "0x1f", "1:30", "-", "a: b", "a:", "  lead", "trail  \nx", "\n", "a\n\n"]),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
documents = st.recursive(scalars, lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_anything_written_reads_back_equal(document: Any) -> None:
    assert yaml.safe_load(dump_yaml(document)) == document


def test_every_example_s_rules_read_back_equal_and_keep_promql_readable() -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in load_text(path.read_text(), str(path)):
            rule = build_prometheus_rule(doc.obj, generate_groups(doc.obj))
            text = dump_yaml_documents([rule])
            assert list(yaml.safe_load_all(text)) == [rule]
            if doc.obj.kind == "SLO":
                assert "expr: |" in text  # multi-line PromQL stays a literal block


@pytest.mark.parametrize("key", ["A\n", "a\n", "ok"])
def test_a_key_ending_in_a_newline_is_quoted(key: str) -> None:
    """Found by the property above: ``$`` in the plain-scalar pattern matched before a final newline."""
    assert yaml.safe_load(dump_yaml({key: None})) == {key: None}
