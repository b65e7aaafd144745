"""The status write as a JSON patch bound to one object (``api.status.status_json_patch``).

The patch must do what the merge patch it replaces did (set fields replace, ``None`` removes) and apply to no
other object of the same name.
"""

from __future__ import annotations

from kpi_operator.api.status import ErrorBudget, GateStatus, SLOStatus, status_json_patch

UID = "7f0c-uid"


def test_the_first_operation_tests_the_uid_so_a_re_created_object_refuses_the_write() -> None:
    ops = status_json_patch(UID, SLOStatus(state="Healthy").to_patch(), {"state": "Warning"})
    assert ops[0] == {"op": "test", "path": "/metadata/uid", "value": UID}
    assert ops[1:] == [{"op": "add", "path": "/status/state", "value": "Healthy"}]


def test_a_field_set_to_none_is_removed_only_where_the_status_has_it() -> None:
    patch = SLOStatus(sli=None, state="NoData").to_patch()
    assert {"op": "remove", "path": "/status/sli"} in status_json_patch(UID, patch, {"sli": 0.99, "state": "Healthy"})
    assert {"op": "remove", "path": "/status/sli"} not in status_json_patch(UID, patch, {"state": "Healthy"})  # a remove of nothing fails the patch


def test_nested_objects_are_written_whole_without_their_nulls() -> None:
    patch = SLOStatus(error_budget=ErrorBudget(total=10.0, remaining=None), burn_rates={"5m": 1.5, "1h": None}).to_patch()
    ops = {op["path"]: op for op in status_json_patch(UID, patch, {})}
    assert ops["/status/errorBudget"]["value"] == {"total": 10.0}
    assert ops["/status/burnRates"]["value"] == {"5m": 1.5}


def test_an_object_without_a_status_gets_the_patch_as_its_whole_status() -> None:
    patch = SLOStatus(gate=GateStatus(state="Armed", message=None)).to_patch()
    assert status_json_patch(UID, patch, None) == [
        {"op": "test", "path": "/metadata/uid", "value": UID},
        {"op": "add", "path": "/status", "value": {"gate": {"state": "Armed"}}},
    ]


def test_without_a_uid_there_is_no_test() -> None:
    assert status_json_patch(None, {"state": "Healthy"}, {}) == [{"op": "add", "path": "/status/state", "value": "Healthy"}]
