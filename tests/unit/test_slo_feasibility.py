"""An SLO an alert tier of which can never fire is refused, naming the field (issue 10, item 9).

A pair fires when both its error ratios are above ``factor x (1 - objective)``; an error ratio is at most 1. When
every pair of a tier (that is on, or the page tier of a gated SLO) has a threshold of 1 or more, the tier is
silent forever: refused by ``generate_groups`` (so by ``validate`` and by the operator, with ``Stalled``).
"""

from __future__ import annotations

from typing import Any, Optional

import pytest

from kpi_operator.api.loading import parse_object
from kpi_operator.api.models import SLO
from kpi_operator.reconcile import plan_reconcile
from kpi_operator.rules import SchemaError, generate_groups
from kpi_operator.rules.compiled import compile_slo

# One page pair over a tenth of the 30d window spending the whole budget: factor 10, so the threshold is
# 10 x (1 - objective / 100): exactly 1 at objective 90.
TENTH = {"pageAlert": {"windows": [{"long": "3d", "short": "1h", "budgetPercent": 100}]}}


def slo(objective: float, window: str = "30d", alerting: Optional[dict[str, Any]] = None, gate: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "service": "checkout",
        "owner": "team",
        "objective": objective,
        "window": window,
        "indicator": {"ratio": {"errors": "sum(rate(e[{{.window}}]))", "total": "sum(rate(t[{{.window}}]))"}},
    }
    if alerting is not None:
        spec["alerting"] = alerting
    if gate:
        spec["gate"] = {"selector": {"matchLabels": {"app": "checkout"}}}
    return {"apiVersion": "kpi.dev/v1alpha1", "kind": "SLO", "metadata": {"name": "checkout", "namespace": "shop"}, "spec": spec}


def model(body: dict[str, Any]) -> SLO:
    obj, problems = parse_object(body)
    assert isinstance(obj, SLO), problems
    return obj


CASES = {
    "The defaults at 99.9 over 30d fire": (slo(99.9), None),
    "90 over 30d: the 1h pair (threshold 1.44) cannot fire but the 6h pair (0.6) can, so it is accepted": (slo(90), None),
    "99 over 365d: the 1h pair cannot fire (1.752), the 6h pair can (0.73)": (slo(99, "365d"), None),
    "90 over 90d: no page pair can fire (4.32, 1.8)": (slo(90, "90d"), "spec.objective"),
    "99 over 10y (3650d): the page tier is the first refused": (slo(99, "3650d"), "spec.objective"),
    "99 over 10y with the page alert off: the ticket tier (3.65, 1.217) is refused": (slo(99, "3650d", {"pageAlert": {"disabled": True}}), "spec.objective"),
    "99 over 10y with both alerts off: nothing can fire and nothing is expected to": (slo(99, "3650d", {"pageAlert": {"disabled": True}, "ticketAlert": {"disabled": True}}), None),
    "A disabled page tier still gates: a gated SLO whose page pairs cannot fire is refused": (slo(90, "90d", {"pageAlert": {"disabled": True}}, gate=True), "spec.objective"),
    "A threshold just below 1 (0.999) can fire": (slo(90.01, alerting=TENTH), None),
    "A threshold of exactly 1 cannot fire: a pair fires only on an error ratio above it": (slo(90, alerting=TENTH), "spec.alerting.pageAlert.windows"),
    "A threshold just above 1 (1.001) cannot fire": (slo(89.99, alerting=TENTH), "spec.alerting.pageAlert.windows"),
    "Own ticket windows that cannot fire name the ticket windows": (
        slo(90, alerting={"ticketAlert": {"windows": [{"long": "3d", "short": "6h", "budgetPercent": 100}]}}), "spec.alerting.ticketAlert.windows"),
}


@pytest.mark.parametrize("body, field", CASES.values(), ids=CASES.keys())
def test_which_slos_are_refused_and_the_field_named(body: dict[str, Any], field: Optional[str]) -> None:
    obj = model(body)
    if field is None:
        assert generate_groups(obj) and generate_groups(obj, "sloth")
        return
    for schema in ("native", "sloth"):
        with pytest.raises(SchemaError) as raised:
            generate_groups(obj, schema)  # type: ignore[arg-type]
        assert raised.value.path == field


@pytest.mark.parametrize(
    "objective, threshold",
    [(90.01, 0.999), (90, 1.0), (89.99, 1.001)],
    ids=["just below 1", "exactly 1", "just above 1"],
)
def test_the_boundary_thresholds_are_what_the_rules_compute(objective: float, threshold: float) -> None:
    compiled = compile_slo(model(slo(objective, alerting=TENTH)))
    (pair,) = compiled.pairs("page")
    assert compiled.threshold(pair) == pytest.approx(threshold)
    assert bool(compiled.silent_tiers()) is (threshold >= 1.0)


def test_the_message_says_why_with_each_pair_and_how_to_fix_it() -> None:
    with pytest.raises(SchemaError) as raised:
        generate_groups(model(slo(90, "90d", gate=True)))
    assert str(raised.value) == (
        "spec.objective: 90 with window 90d gives every page-tier window pair an error-ratio threshold at or above 1 "
        "(1h/5m: burn factor 43.2, threshold 4.32; 6h/30m: burn factor 18, threshold 1.8); a pair fires only on an "
        "error ratio above its threshold, and an error ratio cannot exceed 1 (100 % errors), so the page alert and the "
        "gate can never fire. To fix: raise the objective (a smaller error budget), shorten spec.window or give "
        "spec.alerting.pageAlert.windows longer long windows or smaller budgetPercent."
    )


def test_the_operator_stalls_with_the_field_and_an_event_and_writes_no_rule() -> None:
    plan = plan_reconcile({**slo(90, "90d"), "metadata": {"name": "checkout", "namespace": "shop", "generation": 2}}, "native", "2027-01-15T08:00:00Z")
    assert plan.obj is None and plan.rule is None
    stalled = plan.status.condition("Stalled")
    assert stalled is not None and stalled.status == "True" and stalled.reason == "InvalidSpec"
    assert "spec.objective: 90 with window 90d gives every page-tier window pair" in stalled.message
    ((kind, reason, message),) = plan.events
    assert (kind, reason) == ("Warning", "InvalidSpec") and "can never fire" in message
