"""Label names the operator keys series and alerts on cannot be set by a spec: an SLO whose alert carried
``slo_namespace: shop`` would put its alerts in another namespace's status."""

from __future__ import annotations

from typing import Any

import pytest

from kpi_operator.api import parse_object

RATIO = {"ratio": {"errorsMetric": 'h{code=~"5.."}', "totalMetric": "h"}}


def slo(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kpi.dev/v1alpha1", "kind": "SLO", "metadata": {"name": "a", "namespace": "evil"},
            "spec": {"service": "api", "owner": "o", "objective": 99.9, "indicator": RATIO, **spec}}


def kpi(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kpi.dev/v1alpha1", "kind": "KPI", "metadata": {"name": "k", "namespace": "evil"},
            "spec": {"owner": "o", "query": "vector(1)", "target": {"op": ">=", "value": 1}, **spec}}


@pytest.mark.parametrize(
    "body, field",
    [
        pytest.param(slo(labels={"slo_namespace": "shop"}), "spec.labels", id="An SLO's labels cannot name another namespace"),
        pytest.param(slo(alerting={"labels": {"slo_name": "checkout"}}), "spec.alerting.labels", id="An SLO's alert labels cannot name another SLO"),
        pytest.param(slo(alerting={"pageAlert": {"labels": {"slo_tier": "ticket"}}}), "spec.alerting.pageAlert.labels", id="A tier's labels cannot change its tier"),
        pytest.param(slo(alerting={"noData": {"for": "10m", "labels": {"sloth_slo": "x"}}}), "spec.alerting.noData.labels", id="The no-data alert cannot carry a sloth identity"),
        pytest.param(kpi(labels={"kpi_namespace": "shop"}), "spec.labels", id="A KPI's labels cannot name another namespace"),
    ],
)
def test_a_reserved_label_name_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    obj, problems = parse_object(body)
    assert obj is None
    assert any(p.path == field and "reserved" in p.message for p in problems), problems


def test_other_label_names_are_accepted() -> None:
    obj, problems = parse_object(slo(labels={"team": "payments", "tier": "1"}))
    assert obj is not None, problems
