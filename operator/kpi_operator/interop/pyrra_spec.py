"""Pyrra's ``pyrra.dev/v1alpha1`` ``ServiceLevelObjective``, field for field as its CRD (``config/crd/bases``) has it.

The CRD mixes spellings (``bool_gauge`` and ``partial_response_strategy`` beside ``latencyNative`` and
``performanceOverAccuracy``); the aliases keep them as written. Options with no kpi.dev counterpart
(``performanceOverAccuracy``, ``partial_response_strategy``, ``ruleOutput``, ``alerting.absentName``) are modelled
so that they are accepted, and the converter notes them.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Optional

from pydantic import Field

from .spec_model import (
    NULL_IS_EMPTY_MAP,
    Flag,
    LabelNames,
    Number,
    ObjectMeta,
    OptionalFlag,
    OptionalStringValue,
    OptionalText,
    SourceModel,
    StringMap,
    Text,
    empty_list,
)

API_VERSION = "pyrra.dev/v1alpha1"
KIND = "ServiceLevelObjective"


class Metric(SourceModel):
    what: ClassVar[str] = "a Pyrra metric"

    metric: Text


class Ratio(SourceModel):
    what: ClassVar[str] = "a Pyrra ratio indicator"

    errors: Metric
    total: Metric
    grouping: LabelNames = empty_list()


class Latency(SourceModel):
    what: ClassVar[str] = "a Pyrra latency indicator"

    success: Metric
    total: Metric
    grouping: LabelNames = empty_list()


class LatencyNative(SourceModel):
    what: ClassVar[str] = "a Pyrra latencyNative indicator"

    latency: Text
    total: Metric
    grouping: LabelNames = empty_list()


class BoolGauge(SourceModel):
    what: ClassVar[str] = "a Pyrra bool_gauge indicator"

    metric: Text
    grouping: LabelNames = empty_list()


class Indicator(SourceModel):
    what: ClassVar[str] = "a Pyrra indicator"

    ratio: Optional[Ratio] = None
    latency: Optional[Latency] = None
    latency_native: Optional[LatencyNative] = Field(None, alias="latencyNative")
    bool_gauge: Optional[BoolGauge] = None


class Severities(SourceModel):
    what: ClassVar[str] = "Pyrra's severities"

    absent: OptionalStringValue = None
    fast_burn: OptionalStringValue = Field(None, alias="fastBurn")
    medium_burn: OptionalStringValue = Field(None, alias="mediumBurn")
    slow_burn: OptionalStringValue = Field(None, alias="slowBurn")
    long_term_burn: OptionalStringValue = Field(None, alias="longTermBurn")


class Alerting(SourceModel):
    """``absent`` and ``burnrates`` default to true in Pyrra, so absent is not false here."""

    what: ClassVar[str] = "Pyrra's alerting"

    absent: OptionalFlag = None
    absent_name: OptionalText = Field(None, alias="absentName")
    burnrates: OptionalFlag = None
    disabled: Flag = False
    name: OptionalText = None
    severities: Annotated[Severities, NULL_IS_EMPTY_MAP] = Field(default_factory=Severities)


class RuleOutput(SourceModel):
    """Labels for the PrometheusRules Pyrra splits its rules into with ``performanceOverAccuracy``; noted, not read."""

    what: ClassVar[str] = "Pyrra's ruleOutput"

    enable_description_as_label: OptionalFlag = Field(None, alias="enableDescriptionAsLabel")
    long_rules_labels: StringMap = Field(default_factory=dict, alias="longRulesLabels")
    short_rules_labels: StringMap = Field(default_factory=dict, alias="shortRulesLabels")


class Spec(SourceModel):
    what: ClassVar[str] = f"Pyrra's {KIND}"

    target: Number
    window: Text
    indicator: Indicator
    alerting: Annotated[Alerting, NULL_IS_EMPTY_MAP] = Field(default_factory=Alerting)
    description: OptionalText = None
    partial_response_strategy: Optional[Literal["abort", "warn", ""]] = None
    performance_over_accuracy: OptionalFlag = Field(None, alias="performanceOverAccuracy")
    rule_output: Optional[RuleOutput] = Field(None, alias="ruleOutput")


class Metadata(ObjectMeta):
    name: Text


class Status(SourceModel):
    """What Pyrra's controller writes back; not read."""

    what: ClassVar[str] = f"Pyrra's {KIND} status"

    type: OptionalText = None


class ServiceLevelObjective(SourceModel):
    what: ClassVar[str] = f"Pyrra's {KIND}"

    api_version: Literal["pyrra.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ServiceLevelObjective"]
    metadata: Metadata
    spec: Spec
    status: Optional[Status] = None
