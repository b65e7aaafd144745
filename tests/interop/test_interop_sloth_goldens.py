"""Sloth specs imported with ``kpi-operator import`` give Sloth's own golden rules with ``--rule-schema sloth``.

Every Sloth input in ``../shared/anchors/sloth`` that has a golden output: the integration goldens (``.tpl``,
rendered as Sloth's test renders them) and the README's getting-started examples with their ``_gen`` outputs.
Labels that describe the generating tool (``sloth_mode``, ``sloth_spec``, ``sloth_version``) are not compared;
nor is ``cmd``, a label Sloth's example generator script adds to its ``_gen`` outputs and not part of the spec.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kpi_operator.api import parse_object
from kpi_operator.interop import ImportOptions, import_document
from kpi_operator.rules import generate_groups
from support.anchors import anchor, render_sloth_golden
from support.rule_compare import diff_groups

TOOL_LABELS = ("sloth_mode", "sloth_spec", "sloth_version")
TESTDATA = "sloth/test/integration/prometheus/testdata"


def imported_groups(relative: str, options: ImportOptions) -> list[dict[str, Any]]:
    groups = []
    for document in yaml.safe_load_all(anchor(relative).read_text()):
        for body in import_document(document, options=options):
            obj, problems = parse_object(body)
            assert not problems, problems
            groups.extend(generate_groups(obj, "sloth"))
    return groups


def golden_groups(relative: str) -> list[dict[str, Any]]:
    text = anchor(relative).read_text()
    if relative.endswith(".tpl"):
        text = render_sloth_golden(text)
    document = next(doc for doc in yaml.safe_load_all(text) if doc)
    return document["spec"]["groups"] if document.get("kind") == "PrometheusRule" else document["groups"]


@pytest.mark.parametrize(
    "source, golden, window, ignored",
    [
        pytest.param(f"{TESTDATA}/in-base.yaml", f"{TESTDATA}/out-base.yaml.tpl", "30d", (),
                     id="Sloth's prometheus/v1 base spec imports to SLOs whose sloth-schema rules equal Sloth's golden"),
        pytest.param(f"{TESTDATA}/in-base.yaml", f"{TESTDATA}/out-base-28d.yaml.tpl", "28d", (),
                     id="With --default-window 28d the same spec equals Sloth's --default-slo-period 28d golden"),
        pytest.param(f"{TESTDATA}/in-base-k8s.yaml", f"{TESTDATA}/out-base-k8s.yaml.tpl", "30d", (),
                     id="Sloth's PrometheusServiceLevel CR imports to SLOs whose rules equal the groups of Sloth's PrometheusRule"),
        pytest.param(f"{TESTDATA}/in-openslo.yaml", f"{TESTDATA}/out-openslo.yaml.tpl", "30d", (),
                     id="Sloth's OpenSLO v1alpha input imports to slo1-0 with Sloth's 1 - good/total expression and no alerts"),
        pytest.param("sloth/examples/getting-started.yml", "sloth/examples/_gen/getting-started.yml", "30d", ("cmd",),
                     id="Sloth's getting-started spec (owner label) equals its generated example"),
        pytest.param("sloth/examples/k8s-getting-started.yml", "sloth/examples/_gen/k8s-getting-started.yml", "30d", ("cmd",),
                     id="Sloth's Kubernetes getting-started CR equals its generated PrometheusRule"),
    ],
)
def test_imported_sloth_spec_equals_sloth_golden(source: str, golden: str, window: str, ignored: tuple[str, ...]) -> None:
    actual = imported_groups(source, ImportOptions(default_window=window))
    problems = diff_groups(actual, golden_groups(golden), ignore_labels=TOOL_LABELS + ignored)
    assert not problems, "\n".join(problems)


def test_the_getting_started_owner_label_becomes_the_owner() -> None:
    document = yaml.safe_load(anchor("sloth/examples/getting-started.yml").read_text())
    (body,) = import_document(document)
    assert body["spec"]["owner"] == "myteam"
    assert body["spec"]["labels"]["owner"] == "myteam", "the label itself stays, so Sloth's series keep their labels"
    assert "kpi.dev/import-notes" not in body["metadata"]["annotations"]


def test_a_cr_keeps_its_namespace_unless_namespace_is_given() -> None:
    document = yaml.safe_load(anchor(f"{TESTDATA}/in-base-k8s.yaml").read_text())
    assert {body["metadata"]["namespace"] for body in import_document(document)} == {"test-ns"}
    assert {body["metadata"]["namespace"] for body in import_document(document, options=ImportOptions(namespace="shop"))} == {"shop"}
