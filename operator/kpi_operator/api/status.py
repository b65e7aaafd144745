"""The ``status`` of KPIs and SLOs as types: the one description of what the operator writes there.

Three writers fill it (the reconcile plan, the evaluation cycle, the gate) and three readers depend on it (the
operator's own cache, ``kubectl``'s printer columns, Argo CD's and Flux's health checks). Building the status
from these models, instead of dicts assembled in each writer, keeps the field names in one place and lets the
readers in this package use attributes.

The wire format is a JSON merge patch of ``status``: a model carries only the fields its writer set
(``to_patch`` dumps the set fields, camelCase), and a field set to ``None`` on purpose removes the field on the
server, as merge patch defines. Reading is lenient (``from_wire``): an unknown or hand-edited field is kept and
passed through rather than failing the operator, because the status is not user input.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

State = Literal["Healthy", "Warning", "Critical", "NoData", "Unknown"]
ConditionType = Literal["Ready", "Reconciling", "Stalled"]

M = TypeVar("M", bound="StatusModel")


class StatusModel(BaseModel):
    """camelCase on the wire, unknown fields kept, only set fields written."""

    model_config = ConfigDict(populate_by_name=True, alias_generator=to_camel, extra="allow")

    def to_patch(self) -> dict[str, Any]:
        """The set fields as a merge-patch body (``None`` deletes the field on the server)."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")

    @classmethod
    def from_wire(cls: type[M], data: Optional[Mapping[str, Any]]) -> M:
        """Read a status as the API server returns it. A field that does not read (edited by hand, written by
        another version) is dropped, and only that field: the definition version and the gate's memory of an
        act must survive a bad ``state``. The writers rewrite the dropped field soon."""
        fields = dict(data) if isinstance(data, Mapping) else {}
        while True:
            try:
                return cls.model_validate(fields)
            except ValidationError as error:
                bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
                if not bad & fields.keys():
                    return cls()
                fields = {k: v for k, v in fields.items() if k not in bad}

    def merged(self: M, patch: "StatusModel") -> M:
        """This status after ``patch``: each field the patch sets replaces the field (the cache's view of a
        merge patch; writers always send nested objects whole)."""
        data = self.to_patch()
        data.update(patch.to_patch())
        return type(self).model_validate(data)


class Condition(StatusModel):
    """A kstatus condition (``Ready``, ``Reconciling``, ``Stalled``); see ``api.conditions``."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: Optional[str] = None
    observed_generation: Optional[int] = None


class Definition(StatusModel):
    """The definition version: bumped when what the rules compute changes (``api.definition``)."""

    version: int
    hash: str
    changed_at: Optional[str] = None


class ErrorBudget(StatusModel):
    total: Optional[float] = None
    remaining: Optional[float] = None


class GateVerdict(StatusModel):
    """The verdict of the gate's last evaluation, with what was behind it (``gate.verdict.Outcome``)."""

    verdict: Literal["pass", "fail", "inconclusive", "error"]
    reason: str
    value: Optional[float] = None
    threshold: Optional[float] = None
    query: str = ""

    @classmethod
    def error(cls, reason: str) -> "GateVerdict":
        """The verdict while Prometheus cannot be read: the gate holds and never acts on it."""
        return cls(verdict="error", reason=f"{reason}; the gate holds and never acts on an error.", value=None, threshold=None, query="")


class GateStatus(StatusModel):
    """``status.gate``: one state per matching Deployment in ``targets`` (``gate.state.GateState``'s wire form);
    ``state``, ``consecutiveFailures`` and ``lastAction`` mirror the first target by name, the usual single
    canary. ``notAllowed`` names the Deployments the selector matched that did not opt in (``gate.consent``),
    and ``message`` says what a person should know (no target, Deployments not allowed)."""

    state: Optional[str] = None
    consecutive_failures: Optional[int] = None
    last_action: Optional[dict[str, Any]] = None
    verdict: Optional[GateVerdict] = None
    targets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    message: Optional[str] = None
    not_allowed: Optional[list[str]] = None

    @classmethod
    def holding(cls, previous: Optional["GateStatus"], reason: str) -> "GateStatus":
        """``previous`` kept as it is (counts, acts, targets) with an ``error`` verdict: what could not be read
        neither counts nor acts."""
        gate = previous.model_copy() if previous is not None else cls()
        gate.verdict = GateVerdict.error(reason)
        return gate


class ObjectStatus(StatusModel):
    """What every KPI and SLO status has: reconcile bookkeeping, conditions, state, the gate."""

    observed_generation: Optional[int] = None
    last_applied_generation: Optional[int] = None
    definition: Optional[Definition] = None
    conditions: list[Condition] = Field(default_factory=list)
    state: Optional[State] = None
    last_evaluated: Optional[str] = None
    gate: Optional[GateStatus] = None

    def condition(self, type_: str) -> Optional[Condition]:
        return next((c for c in self.conditions if c.type == type_), None)


class SLOStatus(ObjectStatus):
    """An SLO's status: the SLI over the period, the error budget, burn rates per window, firing alert tiers."""

    sli: Optional[float] = None
    error_budget: Optional[ErrorBudget] = None
    burn_rates: dict[str, Optional[float]] = Field(default_factory=dict)
    exhaustion_estimate: Optional[str] = None
    alerts: list[str] = Field(default_factory=list)


class KPIStatus(ObjectStatus):
    """A KPI's status: its value against the target, firing alert tiers."""

    value: Optional[float] = None
    target: Optional[float] = None
    alerts: list[str] = Field(default_factory=list)


AnyStatus = Union[SLOStatus, KPIStatus]


def status_type(kind: str) -> type[AnyStatus]:
    """The status model of a kind (``SLO`` or ``KPI``)."""
    return SLOStatus if kind == "SLO" else KPIStatus


def status_json_patch(uid: Optional[str], patch: Mapping[str, Any], current: Optional[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``patch`` (a merge-patch body of ``status``, as ``to_patch`` gives it) as a JSON patch that applies only
    to the object ``uid``.

    Objects are re-created under the same name (a GitOps sync, ``kubectl delete`` then ``apply``); a write planned
    for the old object must not land on the new one, and the name alone cannot tell them apart. A merge patch
    carrying ``metadata.uid`` does not either: on the status subresource the API server drops metadata from the
    patch. The JSON patch's ``test`` of ``/metadata/uid`` fails the whole request (422) on any other object.

    Each top-level field the patch sets replaces the field (``add``), nested ``None`` dropped, which is what the
    merge patch did since writers send nested objects whole; a field set to ``None`` is removed when ``current``
    (the status as last known) has it. ``current`` ``None`` means the object has no status yet: then the patch
    becomes the whole status.
    """
    ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/uid", "value": uid}] if uid else []
    if current is None:
        return [*ops, {"op": "add", "path": "/status", "value": _without_nulls(patch)}]
    for key, value in patch.items():
        path = "/status/" + key.replace("~", "~0").replace("/", "~1")
        if value is not None:
            ops.append({"op": "add", "path": path, "value": _without_nulls(value)})
        elif key in current:
            ops.append({"op": "remove", "path": path})
    return ops


def _without_nulls(value: Any) -> Any:
    """``value`` with every ``None`` member of its objects dropped: a removed field, as a merge patch reads it."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
