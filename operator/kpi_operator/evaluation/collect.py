"""Samples in, series per object out: map the cycle's answers back to the objects they belong to.

Pure: the adapter hands in plain samples (labels, value, timestamp) and the current time; nothing here talks to
Prometheus. Series are matched to objects by the identity labels the rules wrote: ``slo_namespace`` /
``slo_name`` (native), ``sloth_service`` / ``sloth_slo`` (sloth schema, which has no namespace: an SLO in the
sloth schema should have a service/name pair unique in the cluster), ``kpi_namespace`` / ``kpi_name``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional, Union

from ..api.models import KPI, SLO
from ..rules.records import RecordKind, classify
from .queries import SERIES_LABEL

if TYPE_CHECKING:
    from .rule_health import RuleProblem

Key = tuple[str, str, str]  # (kind, namespace, name)


@dataclass(frozen=True)
class Sample:
    """One series' latest value, as Prometheus' instant query returned it."""

    labels: dict[str, str]
    value: float
    timestamp: Optional[float] = None


@dataclass
class ObjectSeries:
    """The series of one object, by window."""

    error_ratios: dict[str, list[float]] = field(default_factory=dict)
    total_rates: dict[str, list[float]] = field(default_factory=dict)
    budget_remaining: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    firing: set[str] = field(default_factory=set)
    sampled_at: Optional[float] = None
    """The newest sample time (Prometheus' own, from the timestamps query) among the object's fresh series: a
    new evaluation of its rules moves it on, a stalled rule does not."""
    conflict: Optional[str] = None
    """Why the object's series cannot be told from another object's (two sloth-schema SLOs with one service and
    name): they are given to neither, and the gate never acts on them."""
    rule_problem: Optional["RuleProblem"] = None
    """Why Prometheus fails to evaluate one of the object's rules (``rule_health``): its state is then
    ``Unknown`` with that cause, never a silent ``NoData``, and the gate never acts on it."""
    rules_evaluated: bool = False
    """Whether Prometheus evaluates the object's rules (their constant record is fresh): without it, missing data
    means rules not loaded (a new object, a refused rule file), never a silent service."""


def key_of(obj: Union[SLO, KPI]) -> Key:
    return (obj.kind, obj.metadata.namespace, obj.metadata.name)


def _series_key(labels: dict[str, str], sloth_index: dict[tuple[str, str], list[Key]]) -> list[Key]:
    if "slo_namespace" in labels and "slo_name" in labels:
        return [("SLO", labels["slo_namespace"], labels["slo_name"])]
    if "kpi_namespace" in labels and "kpi_name" in labels:
        return [("KPI", labels["kpi_namespace"], labels["kpi_name"])]
    if "sloth_service" in labels and "sloth_slo" in labels:
        return sloth_index.get((labels["sloth_service"], labels["sloth_slo"]), [])
    return []


def collect(
    objects: Iterable[Union[SLO, KPI]],
    values: Iterable[Sample],
    timestamps: Iterable[Sample],
    alerts: Iterable[Sample],
    now: float,
    freshness_seconds: float,
    default_schema: str = "native",
) -> dict[Key, ObjectSeries]:
    """Group the cycle's samples by object; samples older than ``now - freshness_seconds`` are dropped.

    Sloth-schema series carry no namespace, so they go only to SLOs whose rules are in the sloth schema (their
    own ``ruleSchema``, else ``default_schema``): a native SLO elsewhere with the same service and name is not
    theirs. Two sloth-schema SLOs with one service and name (in two namespaces) cannot be told apart: their
    series go to neither, and each gets a ``conflict`` naming the other.
    """
    objects = list(objects)
    sloth_index: dict[tuple[str, str], list[Key]] = {}
    for obj in objects:
        if isinstance(obj, SLO) and (obj.spec.rule_schema or default_schema) == "sloth":
            sloth_index.setdefault((obj.spec.service, obj.metadata.name), []).append(key_of(obj))
    known = {key_of(obj) for obj in objects}
    conflicts: dict[Key, str] = {}
    for (service, name), keys in list(sloth_index.items()):
        if len(keys) > 1:
            for key in keys:
                others = ", ".join(f"{k[1]}/{k[2]}" for k in keys if k != key)
                conflicts[key] = (
                    f"SLO {key[1]}/{key[2]} and {others} are both in the sloth schema with service {service!r} and "
                    "name " + repr(name) + ": Sloth's series carry no namespace, so neither's can be told apart. Rename one "
                    "or use the native schema."
                )
            del sloth_index[(service, name)]
    stale: set[tuple[tuple[str, str], ...]] = set()
    for sample in timestamps:
        if now - sample.value > freshness_seconds:
            labels = dict(sample.labels)
            labels["__name__"] = labels.pop(SERIES_LABEL, "")
            stale.add(tuple(sorted(labels.items())))
    result: dict[Key, ObjectSeries] = {key: ObjectSeries(conflict=conflicts.get(key)) for key in known}
    for sample in timestamps:
        if now - sample.value > freshness_seconds:
            continue
        for key in _series_key(sample.labels, sloth_index):
            series = result.get(key)
            if series is not None and (series.sampled_at is None or sample.value > series.sampled_at):
                series.sampled_at = sample.value
    for sample in values:
        if tuple(sorted(sample.labels.items())) in stale:
            continue
        record = classify(sample.labels.get("__name__", ""))
        if record is None:
            continue
        kind, window = record
        for key in _series_key(sample.labels, sloth_index):
            if key not in result:
                continue
            series = result[key]
            if kind is RecordKind.ERROR_RATIO and window is not None:
                series.error_ratios.setdefault(window, []).append(sample.value)
            elif kind is RecordKind.TOTAL_EVENTS and window is not None:
                series.total_rates.setdefault(window, []).append(sample.value)
            elif kind is RecordKind.BUDGET_REMAINING:
                series.budget_remaining.append(sample.value)
            elif kind is RecordKind.KPI_VALUE:
                series.values.append(sample.value)
            elif kind in (RecordKind.OBJECTIVE, RecordKind.KPI_INFO):
                series.rules_evaluated = True
    for sample in alerts:
        # The tier is read from the labels the rules set last (``slo_tier`` and Sloth's ``sloth_severity``,
        # reserved in specs; a KPI alert's ``severity``), never from the alert's name, which the user chooses.
        labels = sample.labels
        tier = labels.get("slo_tier") or labels.get("sloth_severity")
        if tier is None and "kpi_name" in labels:
            tier = labels.get("severity", "critical")
        if tier is None:
            continue
        for key in _series_key(labels, sloth_index):
            if key in result:
                result[key].firing.add(tier)
    return result
