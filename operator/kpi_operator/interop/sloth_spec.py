"""Sloth's two spellings of one spec: the ``prometheus/v1`` file and the ``sloth.slok.dev/v1`` ``PrometheusServiceLevel``.

The fields are those of Sloth's CRD (``pkg/kubernetes/gen/crd``) and of its file format, which has the same
fields in snake_case where the CRD has camelCase (``error_query`` / ``errorQuery``, ``slo_plugins`` /
``sloPlugins``, ``page_alert`` / ``pageAlert``). The file models are written in the file's spelling; each CR
model is its file model with those fields re-spelled, so the converter reads both through the same attributes.
A plugin block (``overridePrevious``, ``chain``) is spelled the same in both.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Optional

from pydantic import Field

from .spec_model import (
    NULL_IS_EMPTY_LIST,
    Anything,
    Flag,
    Number,
    ObjectMeta,
    OptionalText,
    SourceModel,
    StringMap,
    Text,
    empty_list,
    empty_map,
)

FILE_VERSION = "prometheus/v1"
CR_API_VERSION = "sloth.slok.dev/v1"
CR_KIND = "PrometheusServiceLevel"


class SloPlugin(SourceModel):
    """One SLO plugin of a chain. Its ``config`` belongs to the plugin and is not read: a chain is refused whole."""

    what: ClassVar[str] = "a Sloth SLO plugin"

    id: Text
    config: Anything = None
    priority: Optional[int] = None


class SloPlugins(SourceModel):
    """An SLO plugin chain (``slo_plugins`` of a file, ``sloPlugins`` of a CR, ``plugins`` of an SLO).

    A chain with plugins is refused (its rules are computed by Go code at Sloth run time); an empty one, and
    ``overridePrevious`` with it, changes nothing here and is accepted.
    """

    what: ClassVar[str] = "Sloth's SLO plugins"

    override_previous: Flag = Field(False, alias="overridePrevious")
    chain: Annotated[list[SloPlugin], NULL_IS_EMPTY_LIST] = empty_list()


class SliPlugin(SourceModel):
    """An SLI plugin: refused, since its queries come from Go code at Sloth run time."""

    what: ClassVar[str] = "a Sloth SLI plugin"

    id: Text
    options: StringMap = empty_map()


class Events(SourceModel):
    what: ClassVar[str] = "a Sloth events SLI"

    error_query: Text
    total_query: Text


class Raw(SourceModel):
    what: ClassVar[str] = "a Sloth raw SLI"

    error_ratio_query: Text


class Sli(SourceModel):
    what: ClassVar[str] = "a Sloth SLI"

    events: Optional[Events] = None
    raw: Optional[Raw] = None
    plugin: Optional[SliPlugin] = None


class AlertTier(SourceModel):
    """``page_alert`` / ``ticket_alert``: spelled the same in the file and the CR."""

    what: ClassVar[str] = "a Sloth alert tier"

    disable: Flag = False
    labels: StringMap = empty_map()
    annotations: StringMap = empty_map()


class Alerting(SourceModel):
    what: ClassVar[str] = "Sloth's alerting"

    name: OptionalText = None
    labels: StringMap = empty_map()
    annotations: StringMap = empty_map()
    page_alert: Optional[AlertTier] = None
    ticket_alert: Optional[AlertTier] = None


class Slo(SourceModel):
    what: ClassVar[str] = "a Sloth SLO"

    name: Text
    plugins: Optional[SloPlugins] = None
    labels: StringMap = empty_map()
    description: OptionalText = None
    objective: Number
    sli: Sli
    alerting: Optional[Alerting] = None


class Group(SourceModel):
    """The SLOs of one service: the whole of a file, the ``spec`` of a CR."""

    what: ClassVar[str] = "Sloth's prometheus/v1 spec"

    service: Text
    slo_plugins: Optional[SloPlugins] = None
    labels: StringMap = empty_map()
    slos: list[Slo]


class SlothFile(Group):
    version: Literal["prometheus/v1"]


# --- the CR: the same fields, camelCase ---------------------------------------------------------------------------


class CrEvents(Events):
    error_query: Text = Field(alias="errorQuery")
    total_query: Text = Field(alias="totalQuery")


class CrRaw(Raw):
    error_ratio_query: Text = Field(alias="errorRatioQuery")


class CrSli(Sli):
    events: Optional[CrEvents] = None
    raw: Optional[CrRaw] = None


class CrAlerting(Alerting):
    page_alert: Optional[AlertTier] = Field(None, alias="pageAlert")
    ticket_alert: Optional[AlertTier] = Field(None, alias="ticketAlert")


class CrSlo(Slo):
    sli: CrSli
    alerting: Optional[CrAlerting] = None


class CrGroup(Group):
    what: ClassVar[str] = f"the spec of Sloth's {CR_KIND}"

    slo_plugins: Optional[SloPlugins] = Field(None, alias="sloPlugins")
    slos: list[CrSlo]


class CrStatus(SourceModel):
    """What Sloth's controller writes back; not read."""

    what: ClassVar[str] = f"Sloth's {CR_KIND} status"

    observed_generation: Anything = Field(None, alias="observedGeneration")
    processed_slos: Anything = Field(None, alias="processedSLOs")
    prom_op_rules_generated: Anything = Field(None, alias="promOpRulesGenerated")
    prom_op_rules_generated_slos: Anything = Field(None, alias="promOpRulesGeneratedSLOs")
    last_prom_op_rules_successful_generated: Anything = Field(None, alias="lastPromOpRulesSuccessfulGenerated")


class PrometheusServiceLevel(SourceModel):
    what: ClassVar[str] = f"Sloth's {CR_KIND}"

    api_version: Literal["sloth.slok.dev/v1"] = Field(alias="apiVersion")
    kind: Literal["PrometheusServiceLevel"]
    metadata: ObjectMeta
    spec: CrGroup
    status: Optional[CrStatus] = None
