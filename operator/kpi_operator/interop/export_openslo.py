"""kpi.dev SLOs (and KPIs that came from OpenSLO) -> OpenSLO ``openslo/v1`` SLO documents.

Each SLO becomes one self-contained OpenSLO SLO: an inline ``ratioMetric`` indicator, one rolling
``timeWindow``, ``budgetingMethod: Occurrences``, one objective with ``target`` = objective / 100. The SLI's
queries are the ones the rule generator evaluates, with ``{{.window}}`` left in as the range: that is the form
Sloth reads and OpenSLO's own go-sdk examples use, and ``kpi-operator import`` reads it back unchanged.

- ``ratio`` (queries or counter selectors) and ``latency`` -> ``bad`` / ``total`` (``counter: false``: the
  queries already give rates); ``raw`` -> ``raw`` with ``rawType: failure``;
- ``spec.labels`` -> ``metadata.labels`` (keys OpenSLO does not allow, such as ones with capitals, are dropped
  with a note); the owner -> the ``kpi.dev/owner`` annotation, which the importer reads back;
- the window in the largest whole unit of d, h, m (``4w`` is written ``28d``).

Not exported, because OpenSLO has no place for them: alerting (OpenSLO alert policies are separate objects with
notification targets), ``minEvents``, ``noData``, ``gate``, ``ruleSchema``; ``grouping`` survives only as the
``by (...)`` of the queries. Each is a note when the SLO sets it.

A KPI is exported only when it came from an OpenSLO thresholdMetric SLO (it carries the
``kpi.dev/openslo-target`` and ``kpi.dev/openslo-time-window`` annotations the importer writes): OpenSLO needs
a share of good events as the objective's target, and a KPI has none to give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..api.durations import parse_duration_ms
from ..api.models import KPI, SLO
from ..api.promql import WINDOW_VAR
from ..rules import sli
from .objects import OWNER_ANNOTATION
from .openslo import SERVICE_ANNOTATION, TARGET_ANNOTATION, TIME_WINDOW_ANNOTATION, V1

LABEL_KEY_RE = re.compile(r"^[a-z0-9]([-._a-z0-9]{0,61}[a-z0-9])?$")
DESCRIPTION_MAX = 1050
_OPERATORS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_UNITS = (("d", 24 * 3600 * 1000), ("h", 3600 * 1000), ("m", 60 * 1000))


class ExportProblem(ValueError):
    """An SLO that OpenSLO cannot express; ``path`` names the kpi.dev field."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class ExportSkipped(Exception):
    """An object with no OpenSLO form (a KPI without a share-of-good-events target); not an error."""


@dataclass
class Exported:
    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def duration_shorthand(duration: str) -> Optional[str]:
    """A Prometheus duration in OpenSLO's one-unit shorthand (``4w`` -> ``28d``), or None when it has none."""
    ms = parse_duration_ms(duration)
    for unit, size in _UNITS:
        if ms > 0 and ms % size == 0:
            return f"{ms // size}{unit}"
    return None


def _metric(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query.strip()}}}


def _metadata(name: str, labels: dict[str, str], owner: str, notes: list[str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    kept = {}
    for key, value in labels.items():
        if LABEL_KEY_RE.match(key):
            kept[key] = value
        else:
            notes.append(f"spec.labels.{key}: not exported; OpenSLO label keys are lower-case letters, digits, '-', '.' and '_'")
    if kept:
        metadata["labels"] = kept
    metadata["annotations"] = {OWNER_ANNOTATION: owner}
    return metadata


def _description(spec: dict[str, Any], description: str) -> None:
    if len(description) > DESCRIPTION_MAX:
        raise ExportProblem("spec.description", f"OpenSLO allows at most {DESCRIPTION_MAX} characters, got {len(description)}")
    if description:
        spec["description"] = description


def export_slo(slo: SLO) -> Exported:
    """The OpenSLO v1 SLO of one kpi.dev SLO; raises ``ExportProblem`` when it has no OpenSLO form."""
    notes: list[str] = []
    window = duration_shorthand(slo.spec.window)
    if window is None:
        raise ExportProblem("spec.window", f"{slo.spec.window} is not a whole number of minutes, which OpenSLO durations need")
    if slo.spec.indicator.raw is not None:
        ratio: dict[str, Any] = {"counter": False, "rawType": "failure", "raw": _metric(sli.raw_ratio_query(slo, WINDOW_VAR) or "")}
    else:
        ratio = {"counter": False, "bad": _metric(sli.error_query(slo, WINDOW_VAR) or ""), "total": _metric(sli.total_query(slo, WINDOW_VAR) or "")}
    spec: dict[str, Any] = {}
    _description(spec, slo.spec.description)
    spec["service"] = slo.spec.service
    spec["indicator"] = {"metadata": {"name": slo.metadata.name}, "spec": {"ratioMetric": ratio}}
    spec["timeWindow"] = [{"duration": window, "isRolling": True}]
    spec["budgetingMethod"] = "Occurrences"
    spec["objectives"] = [{"target": round(slo.spec.objective / 100, 12)}]
    if slo.spec.indicator.grouping:
        notes.append(f"spec.indicator.grouping: kept only as 'by ({', '.join(slo.spec.indicator.grouping)})' in the queries")
    alerting = slo.spec.alerting
    if alerting.model_fields_set - {"min_events", "no_data"}:
        notes.append("spec.alerting: not exported; OpenSLO alert policies are separate objects")
    for path, value in (
        ("spec.alerting.minEvents", alerting.min_events),
        ("spec.alerting.noData", alerting.no_data),
        ("spec.gate", slo.spec.gate),
        ("spec.ruleSchema", slo.spec.rule_schema),
    ):
        if value is not None:
            notes.append(f"{path}: not exported; OpenSLO has no counterpart")
    document = {"apiVersion": V1, "kind": "SLO", "metadata": _metadata(slo.metadata.name, slo.spec.labels, slo.spec.owner, notes), "spec": spec}
    return Exported(document, notes)


def export_kpi(kpi: KPI) -> Exported:
    """The OpenSLO thresholdMetric SLO of a KPI imported from OpenSLO; raises ``ExportSkipped`` for any other KPI."""
    annotations = kpi.metadata.annotations
    target_text = annotations.get(TARGET_ANNOTATION)
    window = annotations.get(TIME_WINDOW_ANNOTATION)
    if not target_text or not window:
        raise ExportSkipped(
            "not exported: an OpenSLO objective needs a target share of good events, which a KPI does not have "
            f"(KPIs imported from OpenSLO keep it in the {TARGET_ANNOTATION} annotation)"
        )
    try:
        target = float(target_text)
    except ValueError:
        raise ExportSkipped(f"not exported: annotation {TARGET_ANNOTATION} is not a number: {target_text!r}") from None
    if not 0 < target < 1 or not re.match(r"^[1-9][0-9]*[mhdwMQY]$", window):
        raise ExportSkipped(f"not exported: annotations {TARGET_ANNOTATION}={target_text!r} / {TIME_WINDOW_ANNOTATION}={window!r} are not a valid OpenSLO target and duration")
    notes: list[str] = []
    spec: dict[str, Any] = {}
    _description(spec, kpi.spec.description)
    spec["service"] = annotations.get(SERVICE_ANNOTATION) or kpi.metadata.name
    spec["indicator"] = {"metadata": {"name": kpi.metadata.name}, "spec": {"thresholdMetric": _metric(kpi.spec.query)}}
    spec["timeWindow"] = [{"duration": window, "isRolling": True}]
    spec["budgetingMethod"] = "Occurrences"
    spec["objectives"] = [{"op": _OPERATORS[kpi.spec.target.op], "value": kpi.spec.target.value, "target": target}]
    if kpi.spec.thresholds is not None:
        notes.append("spec.thresholds: not exported; OpenSLO has one value per objective")
    document = {"apiVersion": V1, "kind": "SLO", "metadata": _metadata(kpi.metadata.name, kpi.spec.labels, kpi.spec.owner, notes), "spec": spec}
    return Exported(document, notes)


def export_object(obj: Union[SLO, KPI]) -> Exported:
    return export_slo(obj) if isinstance(obj, SLO) else export_kpi(obj)
