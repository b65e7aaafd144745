"""A gated Deployment must opt in: ``kpi.dev/gated-by`` names the gates that may act on it (issue 10, item 10).

Whoever may create a KPI in a namespace must not be able to roll back, pause or scale another team's Deployment
there by writing a wide selector; the Deployment's owner says which gates may.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any, Optional

import pytest

from kpi_operator.api.models import Gate, LabelSelector
from kpi_operator.gate import Decision, Outcome, Verdict
from kpi_operator.gate.consent import GATED_BY_ANNOTATION, allows, named_gates, not_allowed_message
from kpi_operator.gate.rounds import NO_TARGET_MESSAGE, finish_round, not_allowed_notice, plan_round
from ship.status_fixtures import canary

NOW = datetime(2027, 1, 15, 8, 0, 0, tzinfo=timezone.utc)
FAIL = Outcome(Verdict.FAIL, "burning 14x", 0.02, 0.0144, "q")
ME = "SLO/checkout-canary-availability"


def annotated(value: Optional[str], name: str = "checkout-canary") -> dict[str, Any]:
    deployment, _ = canary(2)
    deployment = copy.deepcopy(deployment)
    deployment["metadata"]["name"] = name
    annotations = deployment["metadata"]["annotations"]
    annotations.pop(GATED_BY_ANNOTATION, None)
    if value is not None:
        annotations[GATED_BY_ANNOTATION] = value
    return deployment


ALLOWS = {
    "A Deployment without the annotation lets no gate act": (None, "SLO", "checkout", False),
    "An empty annotation lets no gate act": ("", "SLO", "checkout", False),
    "Naming the SLO lets it act": ("SLO/checkout", "SLO", "checkout", True),
    "The kind is case-insensitive": ("slo/checkout", "SLO", "checkout", True),
    "The kind is case-insensitive both ways": ("Kpi/conversion", "KPI", "conversion", True),
    "The name is exact": ("SLO/Checkout", "SLO", "checkout", False),
    "A name is not a prefix": ("SLO/checkout", "SLO", "checkout-canary", False),
    "Naming the SLO does not let a KPI of the same name act": ("SLO/checkout", "KPI", "checkout", False),
    "Naming another gate does not let this one act": ("SLO/payments", "SLO", "checkout", False),
    "Any entry of a comma-separated list counts": ("SLO/payments, KPI/checkout", "KPI", "checkout", True),
    "Spaces around entries and around the slash are ignored": (" SLO / checkout ,", "SLO", "checkout", True),
    "A star lets any gate of the namespace act": ("*", "KPI", "anything", True),
    "A star among names lets any gate act": ("SLO/payments,*", "SLO", "checkout", True),
    "A star in place of a name is no wildcard": ("SLO/*", "SLO", "checkout", False),
    "A name without a kind names no gate": ("checkout", "SLO", "checkout", False),
    "A namespace-qualified entry names no gate (gates act in their own namespace only)": ("shop/SLO/checkout", "SLO", "checkout", False),
}


@pytest.mark.parametrize("value, kind, name, expected", ALLOWS.values(), ids=ALLOWS.keys())
def test_which_gates_a_deployment_allows(value: Optional[str], kind: str, name: str, expected: bool) -> None:
    assert allows(annotated(value), kind, name) is expected


def test_the_entries_are_read_stripped_and_without_empties() -> None:
    assert named_gates(annotated(" SLO/a ,, KPI/b ,")) == ("SLO/a", "KPI/b")
    assert named_gates({"metadata": {}}) == ()


MESSAGES = {
    "One Deployment: named, with the annotation to add": (
        ["checkout-canary"],
        "Deployment checkout-canary matches spec.gate.selector but does not name this gate in its kpi.dev/gated-by "
        "annotation; the gate never acts on it (not even a dry run). To let it, add "
        "`kpi.dev/gated-by: SLO/checkout-canary-availability` to the Deployment (or append "
        "SLO/checkout-canary-availability to the comma-separated list already there).",
    ),
    "Several Deployments: named in order": (
        ["payments", "checkout"],
        "Deployments checkout, payments match spec.gate.selector but do not name this gate in their kpi.dev/gated-by "
        "annotation; the gate never acts on them (not even a dry run). To let it, add "
        "`kpi.dev/gated-by: SLO/checkout-canary-availability` to each Deployment it should protect (or append "
        "SLO/checkout-canary-availability to the comma-separated list already there).",
    ),
}


@pytest.mark.parametrize("skipped, message", MESSAGES.values(), ids=MESSAGES.keys())
def test_the_message_names_the_deployments_and_the_annotation(skipped: list[str], message: str) -> None:
    assert not_allowed_message(skipped, ME) == message


def test_a_long_list_is_cut_short() -> None:
    message = not_allowed_message([f"d{i:02}" for i in range(25)], ME)
    assert "d00, d01" in message and "d09 and 15 more match" in message and "d10" not in message


def gate(**fields: Any) -> Gate:
    return Gate(selector=LabelSelector(match_labels={"app": "checkout", "track": "canary"}), failure_limit=1, **fields)


ROUNDS = {
    "Only the Deployment naming this gate is judged; the other is named": (
        [annotated(ME, "checkout-canary"), annotated(None, "payments-canary")], ["checkout-canary"], ["payments-canary"]),
    "A Deployment naming another gate is left alone": (
        [annotated(ME, "checkout-canary"), annotated("SLO/payments-availability", "payments-canary")], ["checkout-canary"], ["payments-canary"]),
    "A star opts in to every gate": ([annotated("*", "checkout-canary")], ["checkout-canary"], []),
    "No Deployment opted in: nothing is judged": ([annotated(None, "a"), annotated("KPI/checkout-canary-availability", "b")], [], ["a", "b"]),
}


@pytest.mark.parametrize("deployments, judged, skipped", ROUNDS.values(), ids=ROUNDS.keys())
def test_a_round_judges_only_the_deployments_that_opted_in(deployments: list[dict[str, Any]], judged: list[str], skipped: list[str]) -> None:
    _, replicasets = canary(2)
    round_ = plan_round(None, FAIL, gate(), deployments, replicasets, NOW, me=ME)
    assert [t.name for t in round_.steps] == judged
    assert all(t.decision is Decision.ACT for t in round_.steps)
    assert list(round_.not_allowed) == skipped
    status = finish_round(round_)
    assert sorted(status.targets) == judged
    assert status.not_allowed == (skipped or None)
    if skipped:
        assert status.message == not_allowed_message(skipped, ME)
    else:
        assert status.message is None


def test_no_deployment_opted_in_is_as_with_no_match_and_says_why() -> None:
    _, replicasets = canary(2)
    status = finish_round(plan_round(None, FAIL, gate(), [annotated(None)], replicasets, NOW, me=ME))
    assert (status.state, status.consecutive_failures, status.last_action, status.targets) == ("Armed", 0, None, {})
    assert status.message is not None and "checkout-canary" in status.message and f"kpi.dev/gated-by: {ME}" in status.message
    assert status.verdict is not None and status.verdict.verdict == "fail"
    # No Deployment at all is still the plain "no match".
    assert finish_round(plan_round(None, FAIL, gate(), [], replicasets, NOW, me=ME)).message == NO_TARGET_MESSAGE


def test_a_dry_run_is_not_run_on_a_deployment_that_did_not_opt_in() -> None:
    _, replicasets = canary(2)
    round_ = plan_round(None, FAIL, gate(dry_run=True), [annotated("SLO/other")], replicasets, NOW, me=ME)
    assert round_.steps == () and round_.not_allowed == ("checkout-canary",)


def test_without_a_name_for_the_gate_only_a_star_opts_in() -> None:
    _, replicasets = canary(2)
    round_ = plan_round(None, FAIL, gate(), [annotated(ME, "named"), annotated("*", "star")], replicasets, NOW)
    assert [t.name for t in round_.steps] == ["star"]


def test_an_earlier_message_is_removed_once_the_deployment_opts_in() -> None:
    _, replicasets = canary(2)
    before = finish_round(plan_round(None, FAIL, gate(), [annotated(None)], replicasets, NOW, me=ME))
    after = finish_round(plan_round(before, FAIL, gate(), [annotated(ME)], replicasets, NOW, me=ME))
    assert after.to_patch()["message"] is None and after.to_patch()["notAllowed"] is None  # merge patch: removed
    assert after.state == "Acted"


def test_the_event_is_posted_when_the_set_of_skipped_deployments_changes_not_every_cycle() -> None:
    _, replicasets = canary(2)
    one = [annotated(ME, "checkout-canary"), annotated(None, "payments-canary")]
    two = [*one, annotated(None, "search-canary")]
    first = plan_round(None, FAIL, gate(), one, replicasets, NOW, me=ME)
    assert not_allowed_notice(None, first) == first.not_allowed_message
    status = finish_round(first)
    again = plan_round(status, FAIL, gate(), one, replicasets, NOW, me=ME)
    assert not_allowed_notice(status, again) is None
    grown = plan_round(status, FAIL, gate(), two, replicasets, NOW, me=ME)
    notice = not_allowed_notice(status, grown)
    assert notice is not None and "payments-canary, search-canary" in notice
    opted_in = plan_round(status, FAIL, gate(), [annotated(ME, "checkout-canary")], replicasets, NOW, me=ME)
    assert not_allowed_notice(status, opted_in) is None
