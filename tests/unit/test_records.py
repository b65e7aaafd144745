"""Record names: every name the generators write classifies back to what it holds; other tools' names do not."""

from __future__ import annotations

import re
from typing import Any, Optional

import pytest

from kpi_operator.api import parse_object
from kpi_operator.rules import generate_groups, native, sloth
from kpi_operator.rules import kpi as kpi_rules
from kpi_operator.rules.records import (
    READ_BACK_KINDS,
    READ_BACK_PATTERN,
    READ_BACK_SELECTOR,
    RecordKind,
    classify,
)


def parsed(kind: str, spec: dict[str, Any]) -> Any:
    obj, problems = parse_object({"apiVersion": "kpi.dev/v1alpha1", "kind": kind, "metadata": {"name": "api", "namespace": "shop"}, "spec": spec})
    assert not problems, problems
    return obj


RATIO = {"ratio": {"errors": "sum(rate(e[{{.window}}]))", "total": "sum(rate(t[{{.window}}]))"}}

NATIVE_SLO = parsed("SLO", {"service": "api", "owner": "o", "objective": 99.9, "window": "30d", "indicator": RATIO})
SLOTH_SLO = parsed("SLO", {"service": "api", "owner": "o", "objective": 99.9, "window": "28d", "indicator": RATIO, "ruleSchema": "sloth"})
SAMPLE_KPI = parsed("KPI", {"owner": "o", "query": "avg(x)", "target": {"op": ">=", "value": 0.5}})

ALERT_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

NATIVE_TABLE = [
    *(
        pytest.param(f"slo:{family}:rate{window}", kind, window, id=f"native {family} over {window} is {kind.value} over {window}")
        for window in (*ALERT_WINDOWS, "30d")
        for family, kind in (
            ("error_events", RecordKind.ERROR_EVENTS),
            ("total_events", RecordKind.TOTAL_EVENTS),
            ("error_ratio", RecordKind.ERROR_RATIO),
        )
    ),
    pytest.param("slo:objective:ratio", RecordKind.OBJECTIVE, None, id="the objective has no window"),
    pytest.param("slo:error_budget:ratio", RecordKind.ERROR_BUDGET, None, id="the error budget has no window"),
    pytest.param("slo:error_budget_remaining:ratio", RecordKind.BUDGET_REMAINING, None, id="the native remaining budget is the budget remaining"),
    pytest.param("kpi_operator_slo_info", RecordKind.SLO_INFO, None, id="the native info series is an SLO info series"),
]

SLOTH_TABLE = [
    *(
        pytest.param(f"slo:sli_error:ratio_rate{window}", RecordKind.ERROR_RATIO, window, id=f"Sloth's SLI error over {window} is the error ratio over {window}")
        for window in (*ALERT_WINDOWS, "4w")
    ),
    pytest.param("slo:objective:ratio", RecordKind.OBJECTIVE, None, id="Sloth's objective is the native name"),
    pytest.param("slo:error_budget:ratio", RecordKind.ERROR_BUDGET, None, id="Sloth's error budget is the native name"),
    pytest.param("slo:time_period:days", RecordKind.PERIOD_DAYS, None, id="Sloth's period in days"),
    pytest.param("slo:current_burn_rate:ratio", RecordKind.CURRENT_BURN_RATE, None, id="Sloth's current burn rate"),
    pytest.param("slo:period_burn_rate:ratio", RecordKind.PERIOD_BURN_RATE, None, id="Sloth's period burn rate"),
    pytest.param("slo:period_error_budget_remaining:ratio", RecordKind.BUDGET_REMAINING, None, id="Sloth's period remaining budget is the budget remaining"),
    pytest.param("sloth_slo_info", RecordKind.SLO_INFO, None, id="Sloth's info series is an SLO info series"),
]

KPI_TABLE = [
    pytest.param("kpi:value", RecordKind.KPI_VALUE, None, id="a KPI's value"),
    pytest.param("kpi_operator_kpi_info", RecordKind.KPI_INFO, None, id="a KPI's info series"),
]


def written_names(obj: Any) -> set[str]:
    return {rule["record"] for group in generate_groups(obj) for rule in group["rules"] if "record" in rule}


def table_names(table: list[Any]) -> set[str]:
    return {param.values[0] for param in table}


@pytest.mark.parametrize("name, kind, window", [*NATIVE_TABLE, *SLOTH_TABLE, *KPI_TABLE])
def test_a_written_name_classifies_back_to_its_kind_and_window(name: str, kind: RecordKind, window: Optional[str]) -> None:
    assert classify(name) == (kind, window)


@pytest.mark.parametrize(
    "obj, table",
    [
        pytest.param(NATIVE_SLO, NATIVE_TABLE, id="the table holds every name a native SLO writes, and no other"),
        pytest.param(SLOTH_SLO, SLOTH_TABLE, id="the table holds every name a sloth-schema SLO writes, and no other"),
        pytest.param(SAMPLE_KPI, KPI_TABLE, id="the table holds every name a KPI writes, and no other"),
    ],
)
def test_the_tables_are_what_the_generators_write(obj: Any, table: list[Any]) -> None:
    assert written_names(obj) == table_names(table)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("http_requests:burnrate5m", id="Pyrra's burn rate is not ours"),
        pytest.param("pyrra_objective", id="Pyrra's objective is not ours"),
        pytest.param("job:slo_errors_per_request:ratio_rate1h", id="the SRE workbook's ratio is not ours"),
        pytest.param("up", id="a scraped series is not ours"),
        pytest.param("ALERTS", id="the alerts series is not a record"),
        pytest.param("", id="an empty name is nothing"),
        pytest.param("slo:error_ratio:rate", id="a windowed name without its window is not ours"),
        pytest.param("slo:error_ratio:rate5m_old", id="a window followed by anything is not ours"),
        pytest.param("slo:sli_error:ratio_rate5x", id="a window that is not a duration is not ours"),
        pytest.param("slo:objective:ratio_total", id="a fixed name with a suffix is not ours"),
        pytest.param("xslo:error_ratio:rate5m", id="a prefix before a windowed name is not ours"),
    ],
)
def test_other_names_do_not_classify(name: str) -> None:
    assert classify(name) is None


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(NATIVE_SLO, id="a native SLO's read-back names are exactly those of the read-back kinds"),
        pytest.param(SLOTH_SLO, id="a sloth-schema SLO's read-back names are exactly those of the read-back kinds"),
        pytest.param(SAMPLE_KPI, id="a KPI's read-back names are exactly those of the read-back kinds"),
    ],
)
def test_the_read_back_pattern_selects_the_read_back_kinds(obj: Any) -> None:
    selected = re.compile(READ_BACK_PATTERN)
    for name in written_names(obj):
        classified = classify(name)
        assert classified is not None, name
        assert bool(selected.fullmatch(name)) == (classified[0] in READ_BACK_KINDS), name


def test_the_read_back_selector_is_one_name_matcher() -> None:
    assert READ_BACK_SELECTOR == (
        '{__name__=~"slo:error_ratio:rate.+|slo:total_events:rate.+|slo:error_budget_remaining:ratio|kpi:value'
        '|slo:sli_error:ratio_rate.+|slo:period_error_budget_remaining:ratio|slo:objective:ratio|kpi_operator_kpi_info"}'
    )


@pytest.mark.parametrize(
    "old_name, value",
    [
        pytest.param(native.ERROR_EVENTS, "slo:error_events:rate{window}", id="native.ERROR_EVENTS still names the error events"),
        pytest.param(native.TOTAL_EVENTS, "slo:total_events:rate{window}", id="native.TOTAL_EVENTS still names the total events"),
        pytest.param(native.ERROR_RATIO, "slo:error_ratio:rate{window}", id="native.ERROR_RATIO still names the error ratio"),
        pytest.param(native.OBJECTIVE, "slo:objective:ratio", id="native.OBJECTIVE still names the objective"),
        pytest.param(native.ERROR_BUDGET, "slo:error_budget:ratio", id="native.ERROR_BUDGET still names the error budget"),
        pytest.param(native.BUDGET_REMAINING, "slo:error_budget_remaining:ratio", id="native.BUDGET_REMAINING still names the remaining budget"),
        pytest.param(native.INFO, "kpi_operator_slo_info", id="native.INFO still names the SLO info series"),
        pytest.param(sloth.SLI_RECORD, "slo:sli_error:ratio_rate{window}", id="sloth.SLI_RECORD still names Sloth's SLI error"),
        pytest.param(kpi_rules.VALUE, "kpi:value", id="kpi_rules.VALUE still names a KPI's value"),
        pytest.param(kpi_rules.INFO, "kpi_operator_kpi_info", id="kpi_rules.INFO still names a KPI's info series"),
    ],
)
def test_the_old_constant_names_still_import(old_name: str, value: str) -> None:
    assert old_name == value
