"""OpenSLO ``openslo/v1`` (SLO, SLI, DataSource) and ``openslo/v1alpha`` (SLO), as the spec's README defines them.

Objectives also carry go-sdk's composite fields (``indicator``, ``indicatorRef``, ``compositeWeight``), so a
composite SLO is refused as composite rather than as unknown. Alert policies are not translated (see
``openslo``), but they are modelled, inline conditions and notification targets included, so a misspelt field
inside one is still refused; nothing in them is required here, since nothing in them is read.

Service, AlertPolicy, AlertCondition and AlertNotificationTarget documents produce nothing and are not read.
SLI and DataSource documents are read when an SLO refers to them.

Where the format is looser than the import, the models are as strict as the import: a time window and the
objectives are required (the SLO window and objective come from them), and a Prometheus-compatible metric
source's ``spec`` has exactly a ``query``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import Field, PlainValidator
from pydantic_core import PydanticCustomError

from .spec_model import (
    NULL_IS_EMPTY_LIST,
    NULL_IS_EMPTY_MAP,
    Anything,
    Flag,
    Key,
    Number,
    OptionalFlag,
    OptionalNumber,
    OptionalText,
    SourceModel,
    StringMap,
    Text,
    empty_list,
    empty_map,
)

V1ALPHA = "openslo/v1alpha"
V1 = "openslo/v1"

BudgetingMethod = Literal["Occurrences", "Timeslices", "RatioTimeslices"]
Operator = Literal["lt", "lte", "gt", "gte"]


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _label_value(value: Any) -> Union[str, list[str]]:
    if _scalar(value):
        return str(value)
    if isinstance(value, list) and all(_scalar(part) for part in value):
        return [str(part) for part in value]
    raise PydanticCustomError("source", "{message}", {"message": f"expected a string or a list of strings, got {value!r}"})


def _time_slice_window(value: Any) -> Union[float, str, None]:
    if value is None or _scalar(value):
        return value
    raise PydanticCustomError("source", "{message}", {"message": f"expected a number or a duration such as 1m, got {value!r}"})


LabelValue = Annotated[Union[str, list[str]], PlainValidator(_label_value)]
"""OpenSLO label values are a string or a list of strings (numbers are written as text)."""
Labels = Annotated[dict[Key, LabelValue], NULL_IS_EMPTY_MAP]


class Metadata(SourceModel):
    what: ClassVar[str] = "OpenSLO v1 metadata"

    name: Text
    display_name: OptionalText = Field(None, alias="displayName")
    labels: Labels = empty_map()
    annotations: StringMap = empty_map()


class InlineMetadata(Metadata):
    """The metadata of an object written inline in an SLO (its SLI, an alert policy): nothing in it is read, so
    its name is not required here."""

    name: OptionalText = None


# --- SLI ----------------------------------------------------------------------------------------------------------


class MetricSource(SourceModel):
    """Where a metric comes from. ``spec`` is the data source's own (OpenSLO leaves its fields to it); for the
    Prometheus-compatible sources it is read as ``PrometheusQuery``."""

    what: ClassVar[str] = "an OpenSLO metric source"

    metric_source_ref: OptionalText = Field(None, alias="metricSourceRef")
    type: OptionalText = None
    spec: Optional[dict[str, Any]] = None


class PrometheusQuery(SourceModel):
    what: ClassVar[str] = "the spec of a Prometheus-compatible metric source"

    query: Text


class Metric(SourceModel):
    what: ClassVar[str] = "an OpenSLO metric spec"

    metric_source: MetricSource = Field(alias="metricSource")


class RatioMetric(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1 ratioMetric"

    counter: Flag = False
    good: Optional[Metric] = None
    bad: Optional[Metric] = None
    total: Optional[Metric] = None
    raw_type: Optional[Literal["success", "failure"]] = Field(None, alias="rawType")
    raw: Optional[Metric] = None


class SliSpec(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1 SLI spec"

    description: OptionalText = None
    ratio_metric: Optional[RatioMetric] = Field(None, alias="ratioMetric")
    threshold_metric: Optional[Metric] = Field(None, alias="thresholdMetric")


class InlineIndicator(SourceModel):
    what: ClassVar[str] = "an OpenSLO inline indicator"

    metadata: Optional[InlineMetadata] = None
    spec: SliSpec


class SliDocument(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1 SLI"

    api_version: Literal["openslo/v1"] = Field(alias="apiVersion")
    kind: Literal["SLI"]
    metadata: Metadata
    spec: SliSpec


class DataSourceSpec(SourceModel):
    """Only ``type`` is read (for a metric source that names none); ``connectionDetails`` are the source's own."""

    what: ClassVar[str] = "an OpenSLO DataSource spec"

    description: OptionalText = None
    type: Text
    connection_details: Anything = Field(None, alias="connectionDetails")


class DataSourceDocument(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1 DataSource"

    api_version: Literal["openslo/v1"] = Field(alias="apiVersion")
    kind: Literal["DataSource"]
    metadata: Metadata
    spec: DataSourceSpec


# --- alert policies (not translated) --------------------------------------------------------------------------


class BurnRateCondition(SourceModel):
    what: ClassVar[str] = "an OpenSLO alert condition"

    kind: OptionalText = None
    op: Optional[Operator] = None
    threshold: OptionalNumber = None
    lookback_window: OptionalText = Field(None, alias="lookbackWindow")
    alert_after: OptionalText = Field(None, alias="alertAfter")


class AlertConditionSpec(SourceModel):
    what: ClassVar[str] = "an OpenSLO AlertCondition spec"

    description: OptionalText = None
    severity: OptionalText = None
    condition: Optional[BurnRateCondition] = None


class AlertConditionItem(SourceModel):
    """A condition of an alert policy: a ``conditionRef``, or an inline AlertCondition."""

    what: ClassVar[str] = "an OpenSLO alert policy condition"

    condition_ref: OptionalText = Field(None, alias="conditionRef")
    kind: Optional[Literal["AlertCondition"]] = None
    metadata: Optional[InlineMetadata] = None
    spec: Optional[AlertConditionSpec] = None


class NotificationTargetSpec(SourceModel):
    what: ClassVar[str] = "an OpenSLO AlertNotificationTarget spec"

    description: OptionalText = None
    target: OptionalText = None


class NotificationTargetItem(SourceModel):
    """A notification target of an alert policy: a ``targetRef``, or an inline AlertNotificationTarget."""

    what: ClassVar[str] = "an OpenSLO notification target"

    target_ref: OptionalText = Field(None, alias="targetRef")
    kind: Optional[Literal["AlertNotificationTarget"]] = None
    metadata: Optional[InlineMetadata] = None
    spec: Optional[NotificationTargetSpec] = None


class AlertPolicySpec(SourceModel):
    what: ClassVar[str] = "an OpenSLO AlertPolicy spec"

    description: OptionalText = None
    alert_when_no_data: OptionalFlag = Field(None, alias="alertWhenNoData")
    alert_when_resolved: OptionalFlag = Field(None, alias="alertWhenResolved")
    alert_when_breaching: OptionalFlag = Field(None, alias="alertWhenBreaching")
    conditions: Annotated[list[AlertConditionItem], NULL_IS_EMPTY_LIST] = empty_list()
    notification_targets: Annotated[list[NotificationTargetItem], NULL_IS_EMPTY_LIST] = Field(default_factory=list, alias="notificationTargets")


class AlertPolicyItem(SourceModel):
    """An alert policy of an SLO: an ``alertPolicyRef``, or an inline AlertPolicy."""

    what: ClassVar[str] = "an OpenSLO alert policy"

    alert_policy_ref: OptionalText = Field(None, alias="alertPolicyRef")
    kind: Optional[Literal["AlertPolicy"]] = None
    metadata: Optional[InlineMetadata] = None
    spec: Optional[AlertPolicySpec] = None


# --- v1 SLO -------------------------------------------------------------------------------------------------------


class Calendar(SourceModel):
    """Refused (windows here are rolling); ``startTime`` is whatever YAML made of it (an unquoted date-time is a
    timestamp), so the refusal names the calendar rather than its start."""

    what: ClassVar[str] = "an OpenSLO calendar"

    start_time: Anything = Field(None, alias="startTime")
    time_zone: OptionalText = Field(None, alias="timeZone")


class TimeWindow(SourceModel):
    """``duration`` is OpenSLO's duration shorthand; the converter reads it (months and longer are refused)."""

    what: ClassVar[str] = "an OpenSLO v1 time window"

    duration: Text
    is_rolling: OptionalFlag = Field(None, alias="isRolling")
    calendar: Optional[Calendar] = None


TimeSliceWindow = Annotated[Union[float, str, None], PlainValidator(_time_slice_window)]


class Objective(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1 objective"

    display_name: OptionalText = Field(None, alias="displayName")
    op: Optional[Operator] = None
    value: OptionalNumber = None
    target: OptionalNumber = None
    target_percent: OptionalNumber = Field(None, alias="targetPercent")
    time_slice_target: OptionalNumber = Field(None, alias="timeSliceTarget")
    time_slice_window: TimeSliceWindow = Field(None, alias="timeSliceWindow")
    indicator: Optional[InlineIndicator] = None
    indicator_ref: OptionalText = Field(None, alias="indicatorRef")
    composite_weight: OptionalNumber = Field(None, alias="compositeWeight")


class SloSpec(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1 SLO"

    service: Text
    budgeting_method: BudgetingMethod = Field(alias="budgetingMethod")
    time_window: list[TimeWindow] = Field(alias="timeWindow")
    objectives: list[Objective]
    indicator: Optional[InlineIndicator] = None
    indicator_ref: OptionalText = Field(None, alias="indicatorRef")
    description: OptionalText = None
    alert_policies: Annotated[list[AlertPolicyItem], NULL_IS_EMPTY_LIST] = Field(default_factory=list, alias="alertPolicies")


class Slo(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1 SLO"

    api_version: Literal["openslo/v1"] = Field(alias="apiVersion")
    kind: Literal["SLO"]
    metadata: Metadata
    spec: SloSpec


# --- v1alpha SLO --------------------------------------------------------------------------------------------------


class V1alphaMetadata(SourceModel):
    what: ClassVar[str] = "OpenSLO v1alpha metadata"

    name: Text
    display_name: OptionalText = Field(None, alias="displayName")


class V1alphaMetric(SourceModel):
    """``metadata`` holds data-source specific details, free-form in the format; it is not read."""

    what: ClassVar[str] = "an OpenSLO v1alpha metric"

    source: Text
    query_type: OptionalText = Field(None, alias="queryType")
    query: Text
    metadata: Optional[dict[str, Any]] = None


class V1alphaRatioMetrics(SourceModel):
    what: ClassVar[str] = "OpenSLO v1alpha ratioMetrics"

    incremental: Flag = False
    good: V1alphaMetric
    total: V1alphaMetric


class V1alphaObjective(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1alpha objective"

    display_name: OptionalText = Field(None, alias="displayName")
    op: Optional[Operator] = None
    value: OptionalNumber = None
    target: OptionalNumber = None
    time_slice_target: OptionalNumber = Field(None, alias="timeSliceTarget")
    ratio_metrics: Optional[V1alphaRatioMetrics] = Field(None, alias="ratioMetrics")


class V1alphaTimeWindow(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1alpha time window"

    count: Number
    unit: Literal["Second", "Minute", "Hour", "Day", "Week", "Month", "Quarter", "Year"]
    is_rolling: OptionalFlag = Field(None, alias="isRolling")
    calendar: Optional[Calendar] = None


class V1alphaIndicator(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1alpha indicator"

    threshold_metric: Optional[V1alphaMetric] = Field(None, alias="thresholdMetric")


class V1alphaSloSpec(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1alpha SLO"

    service: Text
    budgeting_method: BudgetingMethod = Field(alias="budgetingMethod")
    time_windows: list[V1alphaTimeWindow] = Field(alias="timeWindows")
    objectives: list[V1alphaObjective]
    description: OptionalText = None
    indicator: Optional[V1alphaIndicator] = None


class V1alphaSlo(SourceModel):
    what: ClassVar[str] = "an OpenSLO v1alpha SLO"

    api_version: Literal["openslo/v1alpha"] = Field(alias="apiVersion")
    kind: Literal["SLO"]
    metadata: V1alphaMetadata
    spec: V1alphaSloSpec
