"""The CRDs in ``crds/`` and the pydantic models in ``kpi_operator.api`` accept and refuse the same objects.

The models are the single source of the spec's shape; the CRDs repeat it for the API server, so that
``kubectl apply`` refuses a bad object at once instead of the operator finding it later. These tests keep the
two in step:

- valid objects (the fixtures below and every KPI / SLO in ``examples/``) pass both;
- invalid objects are refused by both, each naming the offending field;
- what a schema cannot check (PromQL syntax, comparing two durations) is refused by the models only, and the
  operator reports it as the condition ``Stalled``; what the CRD refuses and the models still accept is listed
  as a change the models owe;
- every field of the models is in the CRD with the same type, bounds, enum and default, and the other way round;
- every field of the CRD is described, so that ``kubectl explain`` helps.

There is no API server here, so its part is emulated: defaults are applied first, then the structural schema is
checked as JSON Schema (unknown fields are errors, as with kubectl's default strict field validation) and the
``x-kubernetes-validations`` CEL rules are evaluated with cel-python, with values typed by the schema as the API
server types them (``type: number`` is a CEL double).
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from kpi_operator.api import parse_object
from kpi_operator.api.loading import Problem
from kpi_operator.api.models import KPI, SLO, KPISpec, SLOSpec

# Declared dev dependencies: a broken install fails here, it does not skip.
import celpy
import re2  # google-re2, a dependency of cel-python: the API server's regexps are RE2 (Go) too
from celpy import celtypes

ROOT = Path(__file__).resolve().parents[2]
CRD_FILES = {"SLO": ROOT / "crds" / "kpi.dev_slos.yaml", "KPI": ROOT / "crds" / "kpi.dev_kpis.yaml"}
MODELS = {"SLO": SLO, "KPI": KPI}
VERSION = "v1alpha1"

DURATION_PATTERN = r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"
LABEL_NAMES_RULE = "self.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$') && !k.startsWith('__'))"


# --- the CRDs ---------------------------------------------------------------------------------------------------


@functools.cache
def crd(kind: str) -> dict[str, Any]:
    documents = [doc for doc in yaml.safe_load_all(CRD_FILES[kind].read_text()) if doc]
    assert len(documents) == 1, f"{CRD_FILES[kind].name} must hold exactly one document"
    return documents[0]


def version(kind: str) -> dict[str, Any]:
    (found,) = [v for v in crd(kind)["spec"]["versions"] if v["name"] == VERSION]
    return found


def schema(kind: str) -> dict[str, Any]:
    return version(kind)["schema"]["openAPIV3Schema"]


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its field path (``spec.alerting.pageAlert.windows[*].long``)."""
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from walk(child, f"{path}.{name}" if path else name)
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}[*]")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[*]")


def all_nodes() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for kind in CRD_FILES:
        for path, node in walk(schema(kind)):
            yield kind, path, node


# --- the API server, emulated -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    """One refusal, as the API server words it: the field path and why."""

    path: str
    message: str
    rule: Optional[str] = None  # the CEL rule that refused, if one did
    blocking: bool = False  # a type error: the API server then skips the CEL rules

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI v3 structural schema node as JSON Schema (draft 2020-12).

    ``nullable`` admits null; OpenAPI's boolean ``exclusiveMinimum`` / ``exclusiveMaximum`` become JSON Schema's
    numeric ones; an object with ``properties`` and no ``x-kubernetes-preserve-unknown-fields`` refuses other
    fields (the API server's strict field validation); ``x-kubernetes-list-type: set`` means unique items. Other
    ``x-kubernetes-*`` extensions, ``description`` and ``format`` do not validate here.
    """
    out: dict[str, Any] = {}
    if "type" in node:
        out["type"] = [node["type"], "null"] if node.get("nullable") else node["type"]
    for key in ("enum", "pattern", "required", "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"):
        if key in node:
            out[key] = node[key]
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if bound in node:
            out[flag if node.get(flag) else bound] = node[bound]
    if "properties" in node:
        out["properties"] = {name: to_json_schema(child) for name, child in node["properties"].items()}
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(node["additionalProperties"])
    if "items" in node:
        out["items"] = to_json_schema(node["items"])
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            out[key] = [to_json_schema(child) for child in node[key]]
    if "not" in node:
        out["not"] = to_json_schema(node["not"])
    return out


def _go_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """``pattern`` as the API server checks it, with Go's RE2, where ``$`` is the end of the text only."""
    if validator.is_type(instance, "string") and not re2.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _validator_class() -> Any:
    return validators.extend(Draft202012Validator, {"pattern": _go_pattern})


def _join(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def prune_nulls(node: dict[str, Any], value: Any) -> Any:
    """The API server drops null values of fields that are not nullable before it applies defaults."""
    if isinstance(value, dict) and "properties" in node:
        for name in [name for name, item in value.items() if item is None]:
            if not node["properties"].get(name, {}).get("nullable"):
                del value[name]
        for name, item in value.items():
            if name in node["properties"]:
                prune_nulls(node["properties"][name], item)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            prune_nulls(node["items"], item)
    return value


def apply_defaults(node: dict[str, Any], value: Any) -> Any:
    """Fill in ``default`` s where a field is absent and its parent object is present, as the API server does."""
    if isinstance(value, dict):
        properties = node.get("properties")
        if properties:
            for name, child in properties.items():
                if name not in value and "default" in child:
                    value[name] = copy.deepcopy(child["default"])
                if name in value:
                    apply_defaults(child, value[name])
        elif isinstance(node.get("additionalProperties"), dict):
            for item in value.values():
                apply_defaults(node["additionalProperties"], item)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            apply_defaults(node["items"], item)
    return value


def schema_errors(node: dict[str, Any], value: Any) -> list[FieldError]:
    """JSON Schema errors as the API server reports them: a missing or unknown field is named in the path."""
    errors = []
    for error in _validator_class()(to_json_schema(node)).iter_errors(value):
        base = list(error.absolute_path)
        if error.validator == "required":
            for name in error.validator_value:
                if isinstance(error.instance, dict) and name not in error.instance:
                    errors.append(FieldError(_join(base + [name]), "Required value"))
        elif error.validator == "additionalProperties" and error.validator_value is False:
            for name in error.instance:
                if name not in error.schema.get("properties", {}):
                    errors.append(FieldError(_join(base + [name]), "field not declared in schema"))
        else:
            errors.append(FieldError(_join(base), error.message, blocking=error.validator == "type"))
    return errors


CEL_RESERVED = {
    "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import",
    "let", "loop", "package", "namespace", "return", "var", "void", "while",
}


def cel_name(name: str) -> str:
    """A property name as CEL sees it: the API server escapes reserved words and some characters."""
    if name in CEL_RESERVED:
        return f"__{name}__"
    return name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__").replace("/", "__slash__")


def to_cel(node: dict[str, Any], value: Any) -> Any:
    """A JSON value as a CEL value typed by its schema, as the API server builds ``self``."""
    kind = node.get("type")
    if kind == "object" and isinstance(value, dict):
        if "properties" in node:
            return celtypes.MapType(
                {celtypes.StringType(cel_name(k)): to_cel(node["properties"].get(k, {}), v) for k, v in value.items()}
            )
        if isinstance(node.get("additionalProperties"), dict):
            return celtypes.MapType(
                {celtypes.StringType(k): to_cel(node["additionalProperties"], v) for k, v in value.items()}
            )
    if kind == "array" and isinstance(value, list):
        return celtypes.ListType([to_cel(node.get("items", {}), item) for item in value])
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return celtypes.DoubleType(value)
    return celpy.json_to_cel(value)


@functools.cache
def cel_program(rule: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def cel_errors(node: dict[str, Any], value: Any, path: str = "") -> list[FieldError]:
    """Evaluate every ``x-kubernetes-validations`` rule on the values present, as the API server does."""
    errors = []
    for rule in node.get("x-kubernetes-validations", []):
        where = (path + rule.get("fieldPath", "")).lstrip(".")
        try:
            verdict = cel_program(rule["rule"]).evaluate({"self": to_cel(node, value)})
        except Exception as error:  # a broken rule, reported like the API server reports it
            errors.append(FieldError(where, f"rule error: {error}", rule["rule"]))
            continue
        if not isinstance(verdict, celtypes.BoolType):
            errors.append(FieldError(where, f"rule error: {verdict!r} is not a bool", rule["rule"]))
        elif not verdict:
            errors.append(FieldError(where, rule["message"], rule["rule"]))
    if isinstance(value, dict):
        if "properties" in node:
            for name, child in node["properties"].items():
                if name in value and value[name] is not None:
                    errors.extend(cel_errors(child, value[name], f"{path}.{name}" if path else name))
        elif isinstance(node.get("additionalProperties"), dict):
            for key, item in value.items():
                errors.extend(cel_errors(node["additionalProperties"], item, f"{path}[{key}]"))
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            errors.extend(cel_errors(node["items"], item, f"{path}[{index}]"))
    return errors


def api_server_errors(body: dict[str, Any]) -> list[FieldError]:
    """What the API server would answer to a create of ``body``: [] when it accepts it."""
    node = schema(body["kind"])
    value = admitted(body)
    errors = schema_errors(node, value)
    if not any(error.blocking for error in errors):
        errors += cel_errors(node, value)
    return errors


def admitted(body: dict[str, Any]) -> dict[str, Any]:
    """The object as stored after the API server's defaulting."""
    node = schema(body["kind"])
    return apply_defaults(node, prune_nulls(node, copy.deepcopy(body)))


# --- the models' side -------------------------------------------------------------------------------------------


def model_problems(body: dict[str, Any]) -> list[Problem]:
    _, problems = parse_object(copy.deepcopy(body))
    return problems


def model_names(problem: Problem, field: str) -> bool:
    """Whether a model problem is about ``field``: by its path, or by its path and then its message.

    A cross-field rule of the models reports the object it sits on (``spec``) and names the field in its message
    (``thresholds.warning 0.05 is on the good side ...``).
    """
    if problem.path == field or problem.path.startswith(field + "["):
        return True
    return field.startswith(problem.path + ".") and field[len(problem.path) + 1 :] in problem.message


def crd_names(error: FieldError, field: str) -> bool:
    return error.path == field or error.path.startswith(field + "[")


# --- valid objects ----------------------------------------------------------------------------------------------

FIXTURES_YAML = {
    "A ratio SLO with queries, alert labels, a low-traffic guard and an absent-data alert": """
apiVersion: kpi.dev/v1alpha1
kind: SLO
metadata: {name: checkout-availability, namespace: shop, labels: {release: prometheus}}
spec:
  service: checkout
  owner: team-payments
  description: 99.9% of checkout requests succeed
  objective: 99.9
  window: 30d
  indicator:
    ratio:
      errors: 'sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))'
      total: 'sum(rate(http_requests_total{job="checkout"}[{{ .window }}]))'
  labels: {team: payments}
  alerting:
    name: CheckoutAvailabilityBurn
    labels: {team: payments}
    annotations: {runbook_url: 'https://runbooks.example.com/checkout'}
    pageAlert: {labels: {severity: critical}, for: 2m}
    ticketAlert: {labels: {severity: warning}, annotations: {summary: slow burn}}
    minEvents: 100
    noData: {for: 15m, labels: {severity: warning}}
""",
    "A selector-form ratio SLO grouped per route, with native rule names": """
apiVersion: kpi.dev/v1alpha1
kind: SLO
metadata: {name: api-availability, namespace: platform}
spec:
  service: api
  owner: team-platform
  objective: 99.5
  window: 7d
  ruleSchema: native
  indicator:
    ratio:
      errorsMetric: 'http_requests_total{service="api",code=~"5.."}'
      totalMetric: http_requests_total
    grouping: [route, method]
  alerting: {minEvents: 0}
""",
    "A classic histogram latency SLO": """
apiVersion: kpi.dev/v1alpha1
kind: SLO
metadata: {name: checkout-latency, namespace: shop}
spec:
  service: checkout
  owner: team-payments
  objective: 99
  window: 4w
  indicator:
    latency: {histogram: http_request_duration_seconds, selector: '{job="checkout",route!="/health"}', threshold: 0.3}
""",
    "A native histogram latency SLO grouped per tenant, without a ticket tier": """
apiVersion: kpi.dev/v1alpha1
kind: SLO
metadata: {name: search-latency, namespace: shop}
spec:
  service: search
  owner: team-discovery
  objective: 95
  window: 14d
  indicator:
    latency: {histogram: search_request_duration_seconds, threshold: 0.25, native: true}
    grouping: [tenant]
  alerting:
    ticketAlert: {disabled: true}
""",
    "A raw SLO with custom windows, an absent-data alert and Sloth rule names": """
apiVersion: kpi.dev/v1alpha1
kind: SLO
metadata: {name: payments-gateway, namespace: shop}
spec:
  service: payments
  owner: team-payments
  objective: 99.95
  window: 28d
  ruleSchema: sloth
  indicator:
    raw:
      errorRatio: |
        sum(rate(gateway_requests_total{outcome="error"}[{{.window}}]))
        /
        sum(rate(gateway_requests_total[{{.window}}]))
  alerting:
    pageAlert:
      windows:
        - {long: 1h, short: 5m, budgetPercent: 2}
        - {long: 6h, short: 30m, budgetPercent: 5}
    ticketAlert:
      for: "0"
      windows: [{long: 3d, short: 6h, budgetPercent: 10}, {long: 1w, short: 12h, budgetPercent: 100}]
    noData: {for: 10m, disabled: false, annotations: {summary: no data}}
""",
    "An SLO with a gate on matchExpressions and a status as the operator writes it": """
apiVersion: kpi.dev/v1alpha1
kind: SLO
metadata: {name: checkout-canary, namespace: shop, generation: 3}
spec:
  service: checkout
  owner: team-payments
  objective: 99.9
  indicator:
    latency: {histogram: http_request_duration_seconds, threshold: 0.5}
  gate:
    selector:
      matchLabels: {app: checkout}
      matchExpressions:
        - {key: track, operator: In, values: [canary]}
        - {key: frozen, operator: DoesNotExist}
    action: scaleToZero
    failureLimit: 2
status:
  observedGeneration: 3
  conditions:
    - type: Ready
      status: "True"
      reason: Evaluated
      message: rules applied
      lastTransitionTime: "2025-01-01T00:00:00Z"
      observedGeneration: 3
    - {type: Stalled, status: "False", reason: Evaluated, message: "", lastTransitionTime: "2025-01-01T00:00:00Z"}
  definition: {version: 2, hash: 9f86d081, changedAt: "2025-01-01T00:00:00Z"}
  state: Critical
  sli: 0.9962
  errorBudget: {remaining: -0.42}
  burnRates: {5m: 20.5, 1h: 14.9, 6h: 3.1, 3d: null}
  exhaustionEstimate: "2025-01-02T00:00:00Z"
  alerts: [page]
  lastEvaluated: "2025-01-01T00:05:00Z"
  gate:
    state: Acted
    consecutiveFailures: 2
    lastAction: {action: scaleToZero, deployment: checkout-canary, revision: "7", value: 0.9962, query: "..."}
""",
    "A KPI with warning and critical thresholds and a gate": """
apiVersion: kpi.dev/v1alpha1
kind: KPI
metadata: {name: checkout-conversion, namespace: shop}
spec:
  owner: team-growth
  description: Share of checkout sessions that place an order
  query: 'sum(rate(orders_total[{{.window}}])) / sum(rate(checkout_sessions_total[{{.window}}]))'
  window: 10m
  unit: ratio
  target: {op: ">=", value: 0.03}
  thresholds: {warning: 0.028, critical: 0.025}
  for: 5m
  labels: {team: growth}
  annotations: {summary: conversion dropped}
  gate:
    selector: {matchLabels: {app: checkout, track: canary}}
    action: rollback
    failureLimit: 3
    noData: hold
""",
    "A lower-is-better KPI whose thresholds sit above the target, with a dry-run pause gate and a status": """
apiVersion: kpi.dev/v1alpha1
kind: KPI
metadata: {name: checkout-p99, namespace: shop}
spec:
  owner: team-payments
  query: 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[{{.window}}])))'
  unit: seconds
  target: {op: "<", value: 0.5}
  thresholds: {warning: 0.5, critical: 0.8}
  gate:
    selector: {matchExpressions: [{key: track, operator: In, values: [canary]}]}
    action: pause
    noData: fail
    dryRun: true
status:
  observedGeneration: 1
  conditions: [{type: Ready, status: "True", reason: Evaluated, message: ok, lastTransitionTime: "2025-01-01T00:00:00Z"}]
  definition: {version: 1, hash: abc, changedAt: "2025-01-01T00:00:00Z"}
  state: Warning
  value: 0.61
  target: 0.5
  lastEvaluated: "2025-01-01T00:05:00Z"
  gate: {state: Failing, consecutiveFailures: 1}
""",
    "A KPI with only a warning threshold, no window and a count unit": """
apiVersion: kpi.dev/v1alpha1
kind: KPI
metadata: {name: open-incidents, namespace: ops}
spec:
  owner: team-sre
  query: sum(incidents_open)
  unit: count
  target: {op: "<=", value: 3}
  thresholds: {warning: 5}
""",
}
FIXTURES = {name: yaml.safe_load(text) for name, text in FIXTURES_YAML.items()}


def example_documents() -> list[Any]:
    params = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for index, body in enumerate(yaml.safe_load_all(path.read_text()), start=1):
            if isinstance(body, dict) and str(body.get("apiVersion", "")).startswith("kpi.dev/"):
                label = f"examples/{path.name} document {index} ({body.get('kind')}/{body.get('metadata', {}).get('name')})"
                params.append(pytest.param(body, id=label))
    return params


VALID = [pytest.param(body, id=name) for name, body in FIXTURES.items()] + example_documents()


@pytest.mark.parametrize("body", VALID)
def test_a_valid_object_is_accepted_by_the_models_and_the_api_server(body: dict[str, Any]) -> None:
    assert model_problems(body) == []
    assert [str(error) for error in api_server_errors(body)] == []


@pytest.mark.parametrize("body", VALID)
def test_the_crd_defaults_are_the_model_defaults(body: dict[str, Any]) -> None:
    """What the API server stores after defaulting means to the models exactly what was sent.

    The status is left aside: the CRD defaults ``status.observedGeneration`` to -1 so that kstatus (Flux) calls a
    new object InProgress until the operator has seen it; the models do not read the status.
    """
    sent, _ = parse_object(copy.deepcopy(body))
    stored, problems = parse_object(admitted(body))
    assert problems == []
    assert stored.model_dump(exclude={"status"}) == sent.model_dump(exclude={"status"})


# --- invalid objects --------------------------------------------------------------------------------------------

DELETE = object()


def changed(name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """A fixture with fields set (``{"spec.objective": 0}``) or removed (``DELETE``), by dotted path."""
    body = copy.deepcopy(FIXTURES[name])
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return body


RATIO = "A ratio SLO with queries, alert labels, a low-traffic guard and an absent-data alert"
GROUPED = "A selector-form ratio SLO grouped per route, with native rule names"
LATENCY = "A classic histogram latency SLO"
RAW = "A raw SLO with custom windows, an absent-data alert and Sloth rule names"
GATED_SLO = "An SLO with a gate on matchExpressions and a status as the operator writes it"
KPI_GATED = "A KPI with warning and critical thresholds and a gate"
KPI_LOWER = "A lower-is-better KPI whose thresholds sit above the target, with a dry-run pause gate and a status"

REFUSED_BY_BOTH = [
    pytest.param(changed(RATIO, {"spec.objectve": 99.9, "spec.objective": DELETE}), "spec.objectve",
                 id="An SLO with a misspelt field (objectve) is refused"),
    pytest.param(changed(RATIO, {"spec.status": {"state": "Healthy"}}), "spec.status",
                 id="An SLO with a status inside its spec is refused"),
    pytest.param(changed(RATIO, {"spec.owner": DELETE}), "spec.owner", id="An SLO without an owner is refused"),
    pytest.param(changed(RATIO, {"spec.owner": ""}), "spec.owner", id="An SLO with an empty owner is refused"),
    pytest.param(changed(RATIO, {"spec.service": DELETE}), "spec.service", id="An SLO without a service is refused"),
    pytest.param(changed(RATIO, {"spec.objective": 0}), "spec.objective", id="An SLO with objective 0 is refused"),
    pytest.param(changed(RATIO, {"spec.objective": 100}), "spec.objective", id="An SLO with objective 100 is refused"),
    pytest.param(changed(RATIO, {"spec.objective": -5}), "spec.objective", id="An SLO with a negative objective is refused"),
    pytest.param(changed(RATIO, {"spec.objective": "text"}), "spec.objective",
                 id="An SLO whose objective is text is refused"),
    pytest.param(changed(RATIO, {"spec.window": "30x"}), "spec.window", id="An SLO with window 30x is refused"),
    pytest.param(changed(RATIO, {"spec.window": "1m1h"}), "spec.window",
                 id="An SLO whose window lists units smallest first is refused"),
    pytest.param(changed(RATIO, {"spec.window": "0s"}), "spec.window", id="An SLO with a zero window is refused"),
    pytest.param(changed(RATIO, {"spec.indicator.latency": {"histogram": "h", "threshold": 1}}), "spec.indicator",
                 id="An SLO with two indicators is refused"),
    pytest.param(changed(RATIO, {"spec.indicator": {}}), "spec.indicator", id="An SLO with no indicator is refused"),
    pytest.param(changed(RATIO, {"spec.indicator": DELETE}), "spec.indicator",
                 id="An SLO without an indicator field is refused"),
    pytest.param(changed(RATIO, {"spec.indicator.ratio.total": DELETE}), "spec.indicator.ratio",
                 id="A ratio with errors but no total is refused"),
    pytest.param(changed(RATIO, {"spec.indicator.ratio.totalMetric": "http_requests_total"}), "spec.indicator.ratio",
                 id="A ratio mixing queries and counters is refused"),
    pytest.param(changed(GROUPED, {"spec.indicator.ratio.totalMetric": DELETE}), "spec.indicator.ratio",
                 id="A ratio with errorsMetric but no totalMetric is refused"),
    pytest.param(changed(RATIO, {"spec.indicator.ratio.errors": "sum(rate(e[5m]))"}), "spec.indicator.ratio.errors",
                 id="A ratio query without {{.window}} is refused"),
    pytest.param(changed(RAW, {"spec.indicator.raw.errorRatio": "avg(x)"}), "spec.indicator.raw.errorRatio",
                 id="A raw query without {{.window}} is refused"),
    pytest.param(changed(GROUPED, {"spec.indicator.ratio.errorsMetric": '{code=~"5.."}'}),
                 "spec.indicator.ratio.errorsMetric", id="A counter selector without a metric name is refused"),
    pytest.param(changed(RATIO, {"spec.indicator.grouping": ["route"]}), "spec.indicator.grouping",
                 id="Grouping a ratio given as queries is refused"),
    pytest.param(changed(RAW, {"spec.indicator.grouping": ["route"]}), "spec.indicator.grouping",
                 id="Grouping a raw indicator is refused"),
    pytest.param(changed(GROUPED, {"spec.indicator.grouping": ["route", "route"]}), "spec.indicator.grouping",
                 id="Grouping by the same label twice is refused"),
    pytest.param(changed(GROUPED, {"spec.indicator.grouping": ["http-route"]}), "spec.indicator.grouping[0]",
                 id="Grouping by an invalid label name is refused"),
    pytest.param(changed(LATENCY, {"spec.indicator.latency.threshold": 0}), "spec.indicator.latency.threshold",
                 id="A latency threshold of 0 is refused"),
    pytest.param(changed(LATENCY, {"spec.indicator.latency.histogram": "http_request_duration_seconds_bucket"}),
                 "spec.indicator.latency.histogram", id="A histogram named with its _bucket suffix is refused"),
    pytest.param(changed(LATENCY, {"spec.indicator.latency.histogram": "http-duration"}),
                 "spec.indicator.latency.histogram", id="A histogram name that is no metric name is refused"),
    pytest.param(changed(LATENCY, {"spec.indicator.latency.selector": 'job="checkout"'}),
                 "spec.indicator.latency.selector", id="A latency selector without braces is refused"),
    pytest.param(changed(LATENCY, {"spec.indicator.latency.native": "yes please"}), "spec.indicator.latency.native",
                 id="A latency native flag that is no boolean is refused"),
    pytest.param(changed(RATIO, {"spec.labels": {"http-route": "x"}}), "spec.labels",
                 id="An invalid label name in spec.labels is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.labels": {"__name__": "x"}}), "spec.alerting.labels",
                 id="A reserved label name in alerting.labels is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.pageAlert.labels": {"9severity": "x"}}),
                 "spec.alerting.pageAlert.labels", id="An invalid label name in a tier's labels is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.name": "checkout-burn"}), "spec.alerting.name",
                 id="An alert name that is no metric name is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.minEvents": -1}), "spec.alerting.minEvents",
                 id="minEvents -1 is refused"),
    pytest.param(changed(RAW, {"spec.alerting.minEvents": 10}), "spec.alerting.minEvents",
                 id="minEvents with a raw indicator is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.pageAlert.windows": [{"long": "1h", "short": "5m", "budgetPercent": 0}]}),
                 "spec.alerting.pageAlert.windows[0].budgetPercent", id="budgetPercent 0 is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.pageAlert.windows": [{"long": "1h", "short": "5m", "budgetPercent": 101}]}),
                 "spec.alerting.pageAlert.windows[0].budgetPercent", id="budgetPercent over 100 is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.pageAlert.windows": [{"long": "1h", "short": "0s", "budgetPercent": 2}]}),
                 "spec.alerting.pageAlert.windows[0].short", id="A zero short window is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.pageAlert.windows": [{"long": "1h", "budgetPercent": 2}]}),
                 "spec.alerting.pageAlert.windows[0].short", id="A window pair without its short window is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.pageAlert.windows": []}), "spec.alerting.pageAlert.windows",
                 id="An empty list of window pairs is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.ticketAlert.for": "soon"}), "spec.alerting.ticketAlert.for",
                 id="A tier's for that is no duration is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.noData": {"labels": {}}}), "spec.alerting.noData.for",
                 id="An absent-data alert without for is refused"),
    pytest.param(changed(RATIO, {"spec.alerting.noData": {"for": "0"}}), "spec.alerting.noData.for",
                 id="An absent-data alert with for 0 is refused"),
    pytest.param(changed(RATIO, {"spec.ruleSchema": "pyrra"}), "spec.ruleSchema", id="An unknown ruleSchema is refused"),
    pytest.param(changed(GATED_SLO, {"spec.gate.action": "nuke"}), "spec.gate.action", id="Gate action nuke is refused"),
    pytest.param(changed(GATED_SLO, {"spec.gate.failureLimit": 0}), "spec.gate.failureLimit",
                 id="Gate failureLimit 0 is refused"),
    pytest.param(changed(GATED_SLO, {"spec.gate.failureLimit": 1.5}), "spec.gate.failureLimit",
                 id="A fractional gate failureLimit is refused"),
    pytest.param(changed(GATED_SLO, {"spec.gate.noData": "maybe"}), "spec.gate.noData", id="Gate noData maybe is refused"),
    pytest.param(changed(GATED_SLO, {"spec.gate.selector": {}}), "spec.gate.selector",
                 id="A gate with an empty selector is refused"),
    pytest.param(changed(GATED_SLO, {"spec.gate.selector": DELETE}), "spec.gate.selector",
                 id="A gate without a selector is refused"),
    pytest.param(changed(GATED_SLO, {"spec.gate.selector.matchExpressions": [{"key": "track", "operator": "Equals"}]}),
                 "spec.gate.selector.matchExpressions[0].operator", id="A selector operator Equals is refused"),
    pytest.param(changed(KPI_GATED, {"spec.thresholds": {"warning": 0.05, "critical": 0.025}}), "spec.thresholds.warning",
                 id="A KPI warning threshold on the good side of a >= target is refused"),
    pytest.param(changed(KPI_GATED, {"spec.thresholds": {"critical": 0.04}}), "spec.thresholds.critical",
                 id="A KPI critical threshold on the good side of a >= target is refused"),
    pytest.param(changed(KPI_GATED, {"spec.thresholds": {"warning": 0.025, "critical": 0.028}}), "spec.thresholds.critical",
                 id="A KPI critical threshold before its warning threshold is refused"),
    pytest.param(changed(KPI_LOWER, {"spec.thresholds": {"warning": 0.4}}), "spec.thresholds.warning",
                 id="A KPI warning threshold on the good side of a < target is refused"),
    pytest.param(changed(KPI_LOWER, {"spec.thresholds": {"warning": 0.7, "critical": 0.6}}), "spec.thresholds.critical",
                 id="A KPI critical threshold before its warning threshold, lower being better, is refused"),
    pytest.param(changed(KPI_GATED, {"spec.target.op": "=="}), "spec.target.op", id="A KPI target op == is refused"),
    pytest.param(changed(KPI_GATED, {"spec.target": DELETE}), "spec.target", id="A KPI without a target is refused"),
    pytest.param(changed(KPI_GATED, {"spec.owner": DELETE}), "spec.owner", id="A KPI without an owner is refused"),
    pytest.param(changed(KPI_GATED, {"spec.query": DELETE}), "spec.query", id="A KPI without a query is refused"),
    pytest.param(changed(KPI_GATED, {"spec.unit": "Percent"}), "spec.unit", id="A KPI unit with capitals is refused"),
    pytest.param(changed(KPI_GATED, {"spec.window": "0"}), "spec.window", id="A KPI with window 0 is refused"),
    pytest.param(changed(KPI_GATED, {"spec.for": "5 minutes"}), "spec.for", id="A KPI whose for is no duration is refused"),
    pytest.param(changed(KPI_GATED, {"spec.gate.action": "nuke"}), "spec.gate.action", id="A KPI gate action nuke is refused"),
    pytest.param(changed(KPI_GATED, {"spec.gate.dryRun": "sometimes"}), "spec.gate.dryRun",
                 id="A KPI gate dryRun that is no boolean is refused"),
    pytest.param(changed(KPI_GATED, {"spec.thresholds.alarm": 1}), "spec.thresholds.alarm",
                 id="A KPI with an unknown threshold tier is refused"),
    pytest.param(changed(KPI_GATED, {"spec.query": "(" * 20000 + "up" + ")" * 20000}), "spec.query",
                 id="A KPI query longer than 8192 characters (20,000 nested parentheses) is refused"),
    pytest.param(changed(RATIO, {"spec.indicator.ratio.errors": "sum(rate(e[{{.window}}]))" + " " * 8192}),
                 "spec.indicator.ratio.errors", id="A ratio query longer than 8192 characters is refused"),
]


@pytest.mark.parametrize("body, field", REFUSED_BY_BOTH)
def test_an_invalid_object_is_refused_by_the_models_and_the_api_server_naming_the_field(
    body: dict[str, Any], field: str
) -> None:
    problems = model_problems(body)
    assert any(model_names(problem, field) for problem in problems), [str(p) for p in problems]
    errors = api_server_errors(body)
    assert any(crd_names(error, field) for error in errors), [str(e) for e in errors]
    assert not [str(e) for e in errors if e.message.startswith("rule error")]


# What a schema cannot check: the models refuse it, so the operator sets the condition Stalled (with the models'
# message) and writes no rules, while the API server stores the object. Each case here is also asserted to pass
# the CRD, so a rule added to the CRD later moves the case to the table above.
REFUSED_BY_THE_MODELS_ONLY = [
    pytest.param(changed(RATIO, {"spec.indicator.ratio.errors": "sum(rate(e[{{.window}}])"}), "spec.indicator.ratio.errors",
                 id="A ratio query that is no PromQL (a parenthesis missing) is Stalled: the schema cannot parse PromQL"),
    pytest.param(changed(KPI_GATED, {"spec.query": "sum(orders_total) /"}), "spec.query",
                 id="A KPI query that is no PromQL is Stalled: the schema cannot parse PromQL"),
    pytest.param(changed(LATENCY, {"spec.indicator.latency.selector": "{job=checkout}"}), "spec.indicator.latency.selector",
                 id="A latency selector with an unquoted value is Stalled: the schema checks only the braces"),
    pytest.param(changed(GROUPED, {"spec.indicator.ratio.errorsMetric": "http_requests_total{code=~}"}),
                 "spec.indicator.ratio.errorsMetric",
                 id="A counter selector with a broken matcher is Stalled: the schema checks only the metric name"),
    pytest.param(changed(RATIO, {"spec.alerting.pageAlert.windows": [{"long": "5m", "short": "1h", "budgetPercent": 2}]}),
                 "spec.alerting.pageAlert.windows[0]",
                 id="A short window not shorter than its long window is Stalled: CEL cannot compare duration strings"),
    pytest.param(changed(RATIO, {"spec.window": "7d",
                                 "spec.alerting.ticketAlert.windows": [{"long": "14d", "short": "1d", "budgetPercent": 10}]}),
                 "spec.alerting.ticketAlert",
                 id="A long window longer than the SLO window is Stalled: CEL cannot compare duration strings"),
    pytest.param(changed(KPI_GATED, {"spec.query": "(" * 65 + "up" + ")" * 65}), "spec.query",
                 id="A KPI query nested 65 brackets deep is Stalled: the schema cannot count brackets"),
    pytest.param(changed(RATIO, {"spec.alerting.annotations": {"summary": "burning {{"}}), "spec.alerting.annotations.summary",
                 id="An alert annotation that is no Go template is Stalled: the schema cannot parse templates"),
    pytest.param(changed(RATIO, {"metadata.name": "checkout.v2"}), "metadata.name",
                 id="An object named like a DNS subdomain (checkout.v2) is Stalled: the API server allows the name, "
                    "the models need a DNS label"),
]


@pytest.mark.parametrize("body, field", REFUSED_BY_THE_MODELS_ONLY)
def test_what_the_schema_cannot_check_is_refused_by_the_models(body: dict[str, Any], field: str) -> None:
    problems = model_problems(body)
    assert any(model_names(problem, field) for problem in problems), [str(p) for p in problems]
    assert [str(e) for e in api_server_errors(body)] == []


# What the API server refuses and the models still accept: each is a change the models owe (named in the id), so
# that a file checked with `kpi-operator validate` is not refused by `kubectl apply` later.
REFUSED_BY_THE_API_SERVER_ONLY = [
    pytest.param(changed(RATIO, {"spec.objective": "99.9"}), "spec.objective",
                 "strict numbers: drop the str -> float coercion of SLOSpec._number",
                 id="An objective written as a string is refused"),
    pytest.param(changed(LATENCY, {"spec.indicator.latency.threshold": "0.3"}), "spec.indicator.latency.threshold",
                 "strict numbers (Field(strict=True) or ConfigDict(strict=True))",
                 id="A latency threshold written as a string is refused"),
    pytest.param(changed(GATED_SLO, {"spec.gate.failureLimit": "3"}), "spec.gate.failureLimit",
                 "strict integers", id="A failureLimit written as a string is refused"),
    pytest.param(changed(GATED_SLO, {"spec.gate.dryRun": "no"}), "spec.gate.dryRun",
                 "strict booleans", id="A dryRun written as the string no is refused"),
    pytest.param(changed(RATIO, {"spec.window": "30d\n"}), "spec.window",
                 "durations: match with re.fullmatch (or \\Z), not ^...$, which lets a final newline through",
                 id="A duration ending in a newline is refused"),
    pytest.param(changed(RATIO, {"spec.window": "\uff13\uff10d"}), "spec.window",
                 "durations: [0-9] instead of \\d, which also matches non-ASCII digits such as \uff13",
                 id="A duration written with full-width digits is refused"),
    pytest.param(changed(RATIO, {"spec.labels": {"team\n": "x"}}), "spec.labels",
                 "label names: LABEL_NAME_RE.fullmatch, not .match with $",
                 id="A label name ending in a newline is refused"),
    pytest.param(changed(RATIO, {"spec.window": "1" + "0" * 40 + "d"}), "spec.window",
                 "durations: max_length=32, as in the CRD", id="A duration longer than 32 characters is refused"),
    pytest.param(changed(RATIO, {"spec.labels": {f"l{i}": "x" for i in range(65)}}), "spec.labels",
                 "Labels: max_length=64, as in the CRD", id="More than 64 labels are refused"),
]


@pytest.mark.parametrize("body, field, model_change", REFUSED_BY_THE_API_SERVER_ONLY)
def test_what_the_api_server_refuses_the_models_should_refuse_too(
    body: dict[str, Any], field: str, model_change: str
) -> None:
    errors = api_server_errors(body)
    assert any(crd_names(error, field) for error in errors), [str(e) for e in errors]
    problems = model_problems(body)
    assert problems, f"the models accept it; change needed in models.py: {model_change}"
    assert any(model_names(problem, field) for problem in problems), [str(p) for p in problems]


def model_field_accepts(model: Any, name: str, value: Any) -> bool:
    """Whether a model's field, with its validators, takes ``value`` (the validators alone, for speed)."""
    try:
        field_adapter(model, name).validate_python(value)
    except PydanticValidationError:
        return False
    return True


@functools.cache
def field_adapter(model: Any, name: str) -> TypeAdapter:
    info = model.model_fields[name]
    return TypeAdapter(Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation)


def crd_field_accepts(kind: str, path: str, value: Any) -> bool:
    node = dict(walk(schema(kind)))[path]
    return not schema_errors(node, value) and not cel_errors(node, value)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789ywdhms", min_size=0, max_size=10))
def test_the_crd_and_the_models_agree_on_what_a_duration_is(text: str) -> None:
    assert model_field_accepts(SLOSpec, "window", text) == crd_field_accepts("SLO", "spec.window", text)
    assert model_field_accepts(KPISpec, "for_", text) == crd_field_accepts("KPI", "spec.for", text)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(alphabet="aZ_09-.:\u00e9", min_size=0, max_size=5), st.just("x"), max_size=3))
def test_the_crd_and_the_models_agree_on_what_a_label_name_is(labels: dict[str, str]) -> None:
    assert model_field_accepts(SLOSpec, "labels", labels) == crd_field_accepts("SLO", "spec.labels", labels)


# --- every CEL rule is needed and works -------------------------------------------------------------------------


def cel_rules() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (kind, path, rule) for kind, path, node in all_nodes() for rule in node.get("x-kubernetes-validations", [])
    ]


def test_every_cel_rule_refuses_some_invalid_object() -> None:
    """A rule no invalid case trips is either dead or untested."""
    tripped = {error.rule for param in REFUSED_BY_BOTH for error in api_server_errors(param.values[0]) if error.rule}
    untested = sorted({rule["rule"] for _, _, rule in cel_rules()} - tripped)
    assert untested == []


def resolves(node: dict[str, Any], field_path: str) -> bool:
    for name in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)", field_path):
        node = (node.get("properties") or {}).get(name)
        if node is None:
            return False
    return True


@pytest.mark.parametrize("kind, path, rule", cel_rules(), ids=lambda v: v if isinstance(v, str) else v["rule"][:60])
def test_a_cel_rule_is_one_the_api_server_would_install(kind: str, path: str, rule: dict[str, Any]) -> None:
    """The checks the API server makes when it installs a CRD, as far as they can be made here.

    The rule compiles; ``fieldPath`` names a field under the rule's node; reserved words are not used as field
    names; and a rule that iterates (``all``, ``exists``) or matches a regex sits on a node with ``maxProperties``
    / ``maxItems`` / ``maxLength``, because the API server estimates a rule's cost from those bounds and refuses
    a CRD whose rules could cost too much (per rule 10^7, per CRD 10^8 units).
    """
    node = dict(walk(schema(kind)))[path]
    assert cel_program(rule["rule"]) is not None
    assert rule.get("message"), "a rule needs a message a person can act on"
    if "fieldPath" in rule:
        assert resolves(node, rule["fieldPath"]), rule["fieldPath"]
    for word in re.findall(r"\bself\.([A-Za-z_]+)", rule["rule"]):
        assert word not in CEL_RESERVED, f"{word} must be written __{word}__ in CEL"
    if re.search(r"\bself\.(all|exists|exists_one|map|filter)\(", rule["rule"]):
        assert "maxProperties" in node or "maxItems" in node, f"{path}: iterating rule on an unbounded node"
    if "self.matches(" in rule["rule"]:
        assert "maxLength" in node, f"{path}: regex rule on a string without maxLength"


# --- models and CRD describe the same fields ---------------------------------------------------------------------

BOUND_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems",
              "maxItems", "minProperties", "maxProperties")
MISSING = object()

# Bounds the CRD has and the models do not, each with its reason. A bound the models gain must then equal the
# CRD's (it is compared like any other), and an exception no field uses any more fails the test.
CRD_ONLY_BOUNDS = {
    ("minLength", "duration"): "the models refuse an empty duration in a validator, not with a JSON Schema bound",
}


def crd_category(node: dict[str, Any]) -> Optional[str]:
    if node.get("pattern") == DURATION_PATTERN:
        return "duration"
    if any(rule["rule"] == LABEL_NAMES_RULE for rule in node.get("x-kubernetes-validations", [])):
        return "labels"
    return None


def crd_bounds(node: dict[str, Any]) -> dict[str, Any]:
    bounds = {}
    for key in BOUND_KEYS:
        if key in node and not isinstance(node[key], bool):
            bounds[key] = node[key]
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if node.get(flag) is True:
            bounds[flag] = bounds.pop(bound)
    return bounds


def resolve(node: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A pydantic JSON Schema node with ``$ref`` resolved and ``Optional`` (anyOf [X, null]) unwrapped."""
    nullable = False
    while "$ref" in node or "anyOf" in node:
        outer = {k: v for k, v in node.items() if k not in ("$ref", "anyOf")}
        if "anyOf" in node:
            options = [option for option in node["anyOf"] if option.get("type") != "null"]
            nullable = nullable or len(options) < len(node["anyOf"])
            assert len(options) == 1, f"a union the CRD cannot express: {node['anyOf']}"
            inner = options[0]
        else:
            inner = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**inner, **outer}
    return node, nullable


def disagreements(model: dict[str, Any], crd_node: dict[str, Any], path: str, defs: dict[str, Any], used: set) -> list[str]:
    found: list[str] = []
    where = path or "(root)"
    node, _ = resolve(model, defs)
    if path == "status":
        open_ = node.get("type") == "object" and node.get("additionalProperties", True) is not False
        if not (open_ and crd_node.get("x-kubernetes-preserve-unknown-fields")):
            found.append("status: the models take any mapping, so the CRD must preserve unknown fields")
        return found
    if path == "metadata":  # the API server's own; the CRD may not describe it
        return found
    if node.get("type") != crd_node.get("type"):
        return [f"{where}: type {node.get('type')} in the models, {crd_node.get('type')} in the CRD"]
    if sorted(map(str, node.get("enum", []))) != sorted(map(str, crd_node.get("enum", []))):
        found.append(f"{where}: enum {node.get('enum')} in the models, {crd_node.get('enum')} in the CRD")
    if "pattern" in node and node["pattern"] != crd_node.get("pattern"):
        found.append(f"{where}: pattern {node['pattern']} in the models, {crd_node.get('pattern')} in the CRD")
    model_bounds = {key: node[key] for key in BOUND_KEYS if key in node}
    for key, value in crd_bounds(crd_node).items():
        if key not in model_bounds and (key, crd_category(crd_node)) in CRD_ONLY_BOUNDS:
            used.add((key, crd_category(crd_node)))
        elif model_bounds.get(key, MISSING) != value:
            found.append(f"{where}: {key} {model_bounds.get(key, 'unset')} in the models, {value} in the CRD")
    for key in set(model_bounds) - set(crd_bounds(crd_node)):
        found.append(f"{where}: {key} {model_bounds[key]} in the models, unset in the CRD")
    model_default = node.get("default", MISSING)
    crd_default = crd_node.get("default", MISSING)
    if crd_default is not MISSING and crd_default != model_default:
        found.append(f"{where}: default {model_default} in the models, {crd_default} in the CRD")
    if crd_default is MISSING and model_default is not MISSING and model_default not in (None, "", [], {}):
        found.append(f"{where}: default {model_default!r} in the models, none in the CRD")
    if node.get("type") == "object":
        model_props = node.get("properties")
        crd_props = crd_node.get("properties")
        if model_props is None and crd_props is None:
            model_values = node.get("additionalProperties")
            crd_values = crd_node.get("additionalProperties")
            if isinstance(model_values, dict) and isinstance(crd_values, dict):
                found += disagreements(model_values, crd_values, f"{path}[*]", defs, used)
            elif model_values != crd_values:
                found.append(f"{where}: map values {model_values} in the models, {crd_values} in the CRD")
        else:
            model_props, crd_props = model_props or {}, crd_props or {}
            for name in sorted(set(model_props) | set(crd_props)):
                child = f"{path}.{name}" if path else name
                if name not in crd_props:
                    found.append(f"{child}: in the models, not in the CRD")
                elif name not in model_props:
                    found.append(f"{child}: in the CRD, not in the models")
                else:
                    found += disagreements(model_props[name], crd_props[name], child, defs, used)
            model_required = set(node.get("required", []))
            if not path:  # apiVersion, kind and metadata are the API server's to require
                model_required -= {"apiVersion", "kind", "metadata"}
            if model_required != set(crd_node.get("required", [])):
                found.append(f"{where}: required {sorted(model_required)} in the models, "
                             f"{sorted(crd_node.get('required', []))} in the CRD")
            if node.get("additionalProperties") is not False and not crd_node.get("x-kubernetes-preserve-unknown-fields"):
                found.append(f"{where}: the models keep unknown fields, the CRD drops them")
    if node.get("type") == "array":
        found += disagreements(node.get("items", {}), crd_node.get("items", {}), f"{path}[*]", defs, used)
    return found


def test_the_models_and_the_crds_have_the_same_fields_types_bounds_and_defaults() -> None:
    found, used = [], set()
    for kind, model in MODELS.items():
        model_schema = model.model_json_schema(by_alias=True)
        defs = model_schema.get("$defs", {})
        found += [f"{kind} {line}" for line in disagreements(model_schema, schema(kind), "", defs, used)]
    assert found == []
    assert sorted(set(CRD_ONLY_BOUNDS) - used) == [], "exceptions no field needs any more"


# --- the CRDs themselves ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CRD_FILES)
def test_every_field_of_the_crd_is_described(kind: str) -> None:
    """So that ``kubectl explain`` helps. The one exception, metadata, is the API server's: it refuses a CRD that
    says anything about metadata other than ``type: object`` (and name / generateName)."""
    undescribed = []
    for path, node in walk(schema(kind)):
        if path == "metadata":
            assert node == {"type": "object"}
            continue
        if path.endswith("[*]"):
            continue  # list items and map values are described by their field
        if not str(node.get("description", "")).strip():
            undescribed.append(path or "(root)")
    assert undescribed == []
    assert all(column.get("description") for column in version(kind)["additionalPrinterColumns"])


BUILTIN_NAMES = {
    # kubectl api-resources of Kubernetes 1.32: names and short names of the built-in kinds
    "bindings", "componentstatuses", "cs", "configmaps", "cm", "endpoints", "ep", "events", "ev", "limitranges",
    "limits", "namespaces", "ns", "nodes", "no", "persistentvolumeclaims", "pvc", "persistentvolumes", "pv", "pods",
    "po", "podtemplates", "replicationcontrollers", "rc", "resourcequotas", "quota", "secrets", "serviceaccounts",
    "sa", "services", "svc", "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
    "validatingadmissionpolicies", "validatingadmissionpolicybindings", "customresourcedefinitions", "crd", "crds",
    "apiservices", "controllerrevisions", "daemonsets", "ds", "deployments", "deploy", "replicasets", "rs",
    "statefulsets", "sts", "tokenreviews", "localsubjectaccessreviews", "selfsubjectaccessreviews",
    "selfsubjectrulesreviews", "subjectaccessreviews", "horizontalpodautoscalers", "hpa", "cronjobs", "cj", "jobs",
    "certificatesigningrequests", "csr", "leases", "endpointslices", "flowschemas", "prioritylevelconfigurations",
    "ingressclasses", "ingresses", "ing", "networkpolicies", "netpol", "runtimeclasses", "poddisruptionbudgets",
    "pdb", "clusterrolebindings", "clusterroles", "rolebindings", "roles", "priorityclasses", "pc", "csidrivers",
    "csinodes", "csistoragecapacities", "storageclasses", "sc", "volumeattachments", "all",
}


@pytest.mark.parametrize(
    "kind, plural, short_names",
    [pytest.param("SLO", "slos", ["kpislo"], id="SLO"), pytest.param("KPI", "kpis", [], id="KPI")],
)
def test_the_crd_names_serving_and_columns(kind: str, plural: str, short_names: list[str]) -> None:
    definition = crd(kind)
    assert definition["apiVersion"] == "apiextensions.k8s.io/v1"
    assert definition["metadata"]["name"] == f"{plural}.kpi.dev"
    spec = definition["spec"]
    assert (spec["group"], spec["scope"]) == ("kpi.dev", "Namespaced")
    names = spec["names"]
    assert (names["kind"], names["plural"], names["singular"]) == (kind, plural, kind.lower())
    assert names["listKind"] == f"{kind}List"
    assert names.get("shortNames", []) == short_names
    assert names["categories"] == ["kpi-operator"]
    assert not (set(short_names) | {plural, kind.lower()}) & BUILTIN_NAMES
    assert [(v["name"], v["served"], v["storage"]) for v in spec["versions"]] == [(VERSION, True, True)]
    assert version(kind)["subresources"] == {"status": {}}
    root = schema(kind)
    assert root["required"] == ["spec"]
    assert "status" not in root["properties"]["spec"]["properties"]
    nodes = dict(walk(root))
    for column in version(kind)["additionalPrinterColumns"]:
        if column["jsonPath"] == ".metadata.creationTimestamp":
            assert (column["name"], column["type"]) == ("Age", "date")
            continue
        target = nodes.get(column["jsonPath"].lstrip("."))
        assert target is not None, f"column {column['name']}: {column['jsonPath']} is no field of the schema"
        assert column["type"] == target["type"], column["name"]


def test_the_printer_columns_are_the_useful_ones() -> None:
    def columns(kind: str) -> list[tuple[str, str]]:
        return [(c["name"], c["jsonPath"]) for c in version(kind)["additionalPrinterColumns"] if not c.get("priority")]

    assert columns("SLO") == [
        ("Objective", ".spec.objective"), ("SLI", ".status.sli"), ("Budget", ".status.errorBudget.remaining"),
        ("State", ".status.state"), ("Owner", ".spec.owner"), ("Age", ".metadata.creationTimestamp"),
    ]
    assert columns("KPI") == [
        ("Op", ".spec.target.op"), ("Target", ".spec.target.value"), ("Value", ".status.value"),
        ("State", ".status.state"), ("Owner", ".spec.owner"), ("Age", ".metadata.creationTimestamp"),
    ]


@pytest.mark.parametrize("kind", CRD_FILES)
def test_the_schema_is_structural(kind: str) -> None:
    """The API server's rules for a structural schema, as far as this project's schema uses their features."""
    problems = []
    for path, node in walk(schema(kind)):
        where = path or "(root)"
        if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            problems.append(f"{where}: no type")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: properties and additionalProperties together")
        if node.get("nullable") and not path.startswith("status."):
            problems.append(f"{where}: nullable outside status (the models never take null)")
        if node.get("x-kubernetes-list-type") == "map":
            keys = set(node.get("x-kubernetes-list-map-keys", []))
            if not keys or not keys <= set(node["items"].get("required", [])):
                problems.append(f"{where}: a map list needs required map keys")
        for key in ("allOf", "anyOf", "oneOf", "not"):
            if key in node:
                problems.append(f"{where}: {key} is not used by this project; check it against the structural rules")
        if "default" in node:
            errors = schema_errors(node, node["default"]) + cel_errors(node, node["default"])
            if errors:
                problems.append(f"{where}: default {node['default']!r} is invalid: {[str(e) for e in errors]}")
    assert problems == []


def test_kubectl_reads_the_crds() -> None:
    """kubectl needs a server for `create --dry-run`; `kubectl kustomize` parses the files offline."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    with tempfile.TemporaryDirectory() as folder:
        for path in CRD_FILES.values():
            shutil.copy(path, folder)
        names = [path.name for path in CRD_FILES.values()]
        Path(folder, "kustomization.yaml").write_text(yaml.safe_dump({"resources": names}))
        result = subprocess.run([kubectl, "kustomize", folder], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = {doc["spec"]["names"]["kind"]: doc for doc in yaml.safe_load_all(result.stdout) if doc}
    assert rendered == {kind: crd(kind) for kind in CRD_FILES}
