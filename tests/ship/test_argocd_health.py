"""The Argo CD health check (manifests/argocd/health.lua) run the way Argo CD runs it, over every state.

Argo CD (util/lua in argo-cd) runs a configured health script in Lua 5.1 (gopher-lua) without the standard
libraries: only the base, table and package libraries and a reduced os library are opened, the live object is
the global ``obj`` (JSON null becomes nil, numbers become Lua numbers), and the value the chunk returns must be a
table whose ``status`` is one of Argo CD's health codes. The VM below reproduces that sandbox with lupa's Lua 5.1,
so a script that reaches for ``string`` or ``math`` fails here as it would in Argo CD.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ship.rendering import MANIFESTS
from ship.schemas import validation_error
from ship.status_fixtures import Case, cases

import lupa.lua51 as lua51  # noqa: E402  (a declared dev dependency: a broken install fails here, it does not skip)

HEALTH_CODES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
CONFIGMAP = MANIFESTS / "argocd" / "argocd-cm.yaml"
SCRIPT = MANIFESTS / "argocd" / "health.lua"
KEYS = {"KPI": "resource.customizations.health.kpi.dev_KPI", "SLO": "resource.customizations.health.kpi.dev_SLO"}


def argocd_vm() -> Any:
    """A Lua 5.1 state with what Argo CD opens for a configured health script, and nothing else."""
    runtime = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    runtime.execute(
        """
        getmetatable("").__index = nil   -- no ("x"):upper() without the string library
        local time, date, clock = os.time, os.date, os.clock
        string, math, io, debug, coroutine = nil, nil, nil, nil, nil
        os = {time = time, date = date, clock = clock}
        """
    )
    return runtime


def to_lua(runtime: Any, value: Any) -> Any:
    """A JSON value as Argo CD hands it to Lua: objects and arrays become tables, null becomes nil."""
    if isinstance(value, dict):
        table = runtime.table()
        for key, item in value.items():
            if item is not None:
                table[key] = to_lua(runtime, item)
        return table
    if isinstance(value, list):
        table = runtime.table()
        for index, item in enumerate(value, start=1):
            table[index] = to_lua(runtime, item)
        return table
    return value


def run_health_check(script: str, obj: dict[str, Any]) -> dict[str, Any]:
    runtime = argocd_vm()
    runtime.globals().obj = to_lua(runtime, obj)
    result = runtime.execute(script)
    assert lua51.lua_type(result) == "table", f"Argo CD expects a table from the script, got {lua51.lua_type(result) or type(result)}"
    return dict(result.items())


def configmap() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CONFIGMAP.read_text())
    return document


def test_the_configmap_snippet_carries_the_script_for_both_kinds() -> None:
    cm = configmap()
    assert (cm["kind"], cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("ConfigMap", "argocd-cm", "argocd")
    assert set(cm["data"]) == set(KEYS.values())
    for key in KEYS.values():
        assert cm["data"][key] == SCRIPT.read_text(), f"{key} differs from health.lua"
    assert validation_error(cm) is None, validation_error(cm)


ALL = cases()
ARGOCD_CASES = {name: case for name, case in ALL.items() if case.argocd is not None}


@pytest.mark.parametrize("case", ARGOCD_CASES.values(), ids=ARGOCD_CASES.keys())
def test_the_health_check_maps_each_state(case: Case) -> None:
    script = configmap()["data"][KEYS[case.body["kind"]]]
    health = run_health_check(script, case.body)
    assert set(health) == {"status", "message"}
    assert health["status"] in HEALTH_CODES
    assert health["status"] == case.argocd, health["message"]
    assert isinstance(health["message"], str) and health["message"]


def health_of(name: str) -> dict[str, Any]:
    return run_health_check(SCRIPT.read_text(), ALL[name].body)


def test_a_stalled_object_shows_the_operator_message() -> None:
    message = health_of("An SLO with invalid PromQL is Stalled")["message"]
    assert "spec.indicator.ratio.errors: invalid PromQL" in message


def test_a_suspended_object_says_what_the_gate_did() -> None:
    message = health_of("A canary gate that acted suspends the KPI")["message"]
    assert "rollback" in message and "Roll Deployment checkout-canary back from revision 2" in message
    assert "A new revision re-arms the gate." in message


def test_healthy_and_degraded_objects_show_the_evaluation() -> None:
    assert health_of("A KPI past its warning threshold is still Healthy")["message"] == "state Warning, value 0.027"
    assert health_of("A KPI beyond its critical threshold is Critical")["message"] == "state Critical, value 0.02"
    assert health_of("An evaluated SLO within its budget is Ready and Healthy")["message"] == "state Healthy, error budget remaining 0.8"


def test_a_generation_lag_names_both_generations() -> None:
    message = health_of("An edited spec the operator has not seen yet has an older observedGeneration")["message"]
    assert message == "kpi-operator has not yet observed generation 2 (status is of generation 1)"


def test_the_sandbox_refuses_what_argocd_refuses() -> None:
    """The emulated VM is as strict as Argo CD's: without the string library, string functions fail."""
    with pytest.raises(lua51.LuaError):
        run_health_check('return {status = string.upper("healthy"), message = ""}', {})
    with pytest.raises(lua51.LuaError):
        run_health_check('return {status = ("Healthy"):sub(1), message = ""}', {})
    with pytest.raises(lua51.LuaError):
        run_health_check("return {status = 'Healthy', message = tostring(math.floor(1.5))}", {})


def test_a_new_object_with_a_defaulted_observed_generation_waits_for_the_operator() -> None:
    """A CRD that defaults status.observedGeneration to -1 (for kstatus) must not read as a generation lag."""
    body = dict(ALL["A new SLO the operator has not reconciled yet has no status"].body, status={"observedGeneration": -1})
    health = run_health_check(SCRIPT.read_text(), body)
    assert health == {"status": "Progressing", "message": "Waiting for kpi-operator to reconcile this SLO"}
