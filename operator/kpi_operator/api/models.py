"""The KPI and SLO objects (``kpi.dev/v1alpha1``) as pydantic models: the single source of the spec's shape.

Field names are the contract shared by the CRDs in ``crds/``, the docs, the examples and the tests. Every model
forbids unknown fields, so a typo (``objectve``) is an error that names the field instead of a silently ignored
setting. Cross-field rules (exactly one indicator, thresholds on the bad side of the target) are validators here
and CEL rules in the CRDs; ``tests/unit/test_crd_agreement.py`` keeps the two in step.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .durations import DurationError, normalize_duration, parse_duration_ms
from .go_template import check_template
from .status import KPIStatus, SLOStatus
from .promql import (
    LABEL_NAME_RE,
    MAX_QUERY_LENGTH,
    METRIC_NAME_RE,
    check_bare_metric_name,
    check_promql,
    check_selector,
    has_window_var,
)

GROUP = "kpi.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class _Model(BaseModel):
    """Base for every spec model: camelCase on the wire, unknown fields refused, numbers finite.

    YAML's ``.nan`` and ``.inf`` are floats, but no target, threshold or objective can be written into PromQL (or
    into a CRD's JSON) as one.
    """

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=False,
        str_strip_whitespace=False,
        strict=True,  # as the API server: "99.9" (a string) is not a number, "no" is not a boolean
        allow_inf_nan=False,
    )


def _duration(value: str) -> str:
    try:
        parse_duration_ms(value)
    except DurationError as error:
        raise ValueError(str(error)) from None
    return value


def _positive_duration(value: str) -> str:
    _duration(value)
    if parse_duration_ms(value) <= 0:
        raise ValueError(f"must be longer than zero, got {value!r}")
    return value


def _promql(value: str) -> str:
    message = check_promql(value)
    if message:
        raise ValueError(message)
    return value


def _template(value: str) -> str:
    message = check_template(value)
    if message:
        raise ValueError(message)
    return value


def _windowed_promql(value: str) -> str:
    if not has_window_var(value):
        raise ValueError("the query must use {{.window}} as its range (e.g. rate(x[{{.window}}])), so each alert window gets its own query")
    return _promql(value)


def _selector(value: str) -> str:
    message = check_selector(value)
    if message:
        raise ValueError(message)
    return value


#: Labels the operator maps series and alerts to objects by: a user's label of one of these names would make one
#: object's series or alerts show in another's status (another namespace's, even).
RESERVED_LABELS = frozenset(
    {"slo_namespace", "slo_name", "slo_service", "slo_tier", "kpi_namespace", "kpi_name", "sloth_service", "sloth_slo", "sloth_severity"}
)


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if key in RESERVED_LABELS:
            raise ValueError(f"label name {key!r} is reserved: the operator maps series and alerts to their object by it")
        if not LABEL_NAME_RE.fullmatch(key):
            raise ValueError(f"invalid label name {key!r}: must match [a-zA-Z_][a-zA-Z0-9_]*")
        if key.startswith("__"):
            raise ValueError(f"invalid label name {key!r}: names starting with __ are reserved by Prometheus")
    return value


Duration = Annotated[str, Field(max_length=32), AfterValidator(_duration)]
PositiveDuration = Annotated[str, Field(max_length=32), AfterValidator(_positive_duration)]
# Queries are bounded in length here and in the CRDs; check_promql bounds their nesting before parsing.
PromQL = Annotated[str, Field(max_length=MAX_QUERY_LENGTH), AfterValidator(_promql)]
WindowedPromQL = Annotated[str, Field(max_length=MAX_QUERY_LENGTH), AfterValidator(_windowed_promql)]
Selector = Annotated[str, Field(max_length=MAX_QUERY_LENGTH), AfterValidator(_selector)]
Labels = Annotated[dict[str, str], Field(max_length=64), AfterValidator(_labels)]
#: An alert label or annotation value: Prometheus expands it as a Go template, and refuses the whole rule file
#: when one does not parse, so each value is parsed here (the error names its key).
Template = Annotated[str, AfterValidator(_template)]
TemplateLabels = Annotated[dict[str, Template], Field(max_length=64), AfterValidator(_labels)]
Annotations = dict[str, Template]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
MetricName = Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]


# --- metadata ---------------------------------------------------------------------------------------------------


class ObjectMeta(BaseModel):
    """The parts of ``metadata`` this project reads; the rest passes through untouched."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    name: str
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: Optional[str] = None
    generation: Optional[int] = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 63 or not DNS_LABEL_RE.match(value):
            raise ValueError(
                f"invalid name {value!r}: must be a DNS-1123 label (lower-case letters, digits and '-', "
                "starting and ending with a letter or digit, at most 63 characters)"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if len(value) > 63 or not DNS_LABEL_RE.match(value):
            raise ValueError(f"invalid namespace {value!r}: must be a DNS-1123 label")
        return value


# --- indicators -------------------------------------------------------------------------------------------------


class RatioIndicator(_Model):
    """Errors over total events.

    Two forms: queries (``errors`` / ``total`` with ``{{.window}}``, as in Sloth's ``events`` SLI), or selectors
    (``errorsMetric`` / ``totalMetric``: a counter and its label matchers, as in Pyrra), from which the generator
    builds ``sum(rate(...))`` itself; the selector form is required with ``grouping``.
    """

    errors: Optional[WindowedPromQL] = Field(None, description="Query for the rate of bad events; uses {{.window}}.")
    total: Optional[WindowedPromQL] = Field(None, description="Query for the rate of all events; uses {{.window}}.")
    errors_metric: Optional[str] = Field(
        None, max_length=MAX_QUERY_LENGTH, description='Counter selector of bad events, e.g. http_requests_total{job="api",code=~"5.."}.'
    )
    total_metric: Optional[str] = Field(
        None, max_length=MAX_QUERY_LENGTH, description='Counter selector of all events, e.g. http_requests_total{job="api"}.'
    )

    @field_validator("errors_metric", "total_metric")
    @classmethod
    def _metric_selector(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        name = value.split("{", 1)[0].strip()
        if not METRIC_NAME_RE.match(name):
            raise ValueError(f"must start with a metric name, got {value!r}")
        message = check_bare_metric_name(name)
        if message:
            raise ValueError(message)
        if "{" in value:
            message = check_selector(value[value.index("{"):])
            if message:
                raise ValueError(message)
        return value

    @model_validator(mode="after")
    def _one_form(self) -> "RatioIndicator":
        queries = self.errors is not None or self.total is not None
        metrics = self.errors_metric is not None or self.total_metric is not None
        if queries and metrics:
            raise ValueError("use either errors/total (queries) or errorsMetric/totalMetric (selectors), not both")
        if queries and (self.errors is None or self.total is None):
            raise ValueError("errors and total are both required")
        if metrics and (self.errors_metric is None or self.total_metric is None):
            raise ValueError("errorsMetric and totalMetric are both required")
        if not queries and not metrics:
            raise ValueError("errors and total (queries) or errorsMetric and totalMetric (selectors) are required")
        return self

    @property
    def selector_form(self) -> bool:
        return self.errors_metric is not None


class RawIndicator(_Model):
    """A ready-made error ratio (0..1) as one query, as Sloth's ``raw`` SLI."""

    error_ratio: WindowedPromQL = Field(description="Query for the ratio of bad events (0..1); uses {{.window}}.")


class LatencyIndicator(_Model):
    """Requests slower than ``threshold`` are errors, read from a histogram.

    Classic histograms: errors are ``_count`` minus ``_bucket{le=threshold}``, so ``threshold`` must be one of the
    histogram's bucket bounds. Native histograms (``native: true``): ``histogram_fraction`` gives the share at or
    under the threshold, any threshold works.
    """

    histogram: MetricName = Field(description="Histogram base name, without _bucket or _count, e.g. http_request_duration_seconds.")
    selector: Selector = Field("{}", description='Label matchers for the histogram, e.g. {job="checkout"}.')
    threshold: float = Field(gt=0, description="Latency bound in seconds; slower requests count as errors.")
    native: bool = Field(False, description="Read a native histogram with histogram_fraction instead of _bucket/_count.")

    @field_validator("histogram")
    @classmethod
    def _base_name(cls, value: str) -> str:
        for suffix in ("_bucket", "_count", "_sum"):
            if value.endswith(suffix):
                raise ValueError(f"give the histogram's base name without {suffix}")
        return value

    @model_validator(mode="after")
    def _native_name(self) -> "LatencyIndicator":
        # A classic histogram's name always carries a suffix (_count, _bucket); a native one stands bare.
        message = check_bare_metric_name(self.histogram) if self.native else None
        if message:
            raise ValueError(f"histogram: {message}")
        return self


class Indicator(_Model):
    """What counts as an error; exactly one of ``ratio``, ``latency``, ``raw``."""

    ratio: Optional[RatioIndicator] = None
    latency: Optional[LatencyIndicator] = None
    raw: Optional[RawIndicator] = None
    grouping: list[LabelName] = Field(
        default_factory=list, description="Labels that split the SLO into one SLO per value (per route, per tenant)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "Indicator":
        given = [name for name in ("ratio", "latency", "raw") if getattr(self, name) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"exactly one of ratio, latency, raw is required (found: {found})")
        if self.grouping:
            if self.raw is not None or (self.ratio is not None and not self.ratio.selector_form):
                raise ValueError(
                    "grouping needs an indicator the generator builds the queries for: "
                    "ratio with errorsMetric/totalMetric, or latency"
                )
            if len(set(self.grouping)) != len(self.grouping):
                raise ValueError("grouping lists a label twice")
        return self

    @property
    def kind(self) -> Literal["ratio", "latency", "raw"]:
        if self.ratio is not None:
            return "ratio"
        if self.latency is not None:
            return "latency"
        return "raw"


# --- alerting ---------------------------------------------------------------------------------------------------


class BurnWindow(_Model):
    """One (long, short) window pair and the share of the error budget it may spend in its long window."""

    long: PositiveDuration = Field(description="Long window, e.g. 1h.")
    short: PositiveDuration = Field(description="Short window, e.g. 5m; makes the alert reset quickly.")
    budget_percent: float = Field(gt=0, le=100, description="Percent of the period's error budget spent in the long window.")

    @model_validator(mode="after")
    def _short_is_shorter(self) -> "BurnWindow":
        if parse_duration_ms(self.short) >= parse_duration_ms(self.long):
            raise ValueError(f"short window {self.short} must be shorter than long window {self.long}")
        return self


PAGE_WINDOWS = (BurnWindow(long="1h", short="5m", budget_percent=2), BurnWindow(long="6h", short="30m", budget_percent=5))
TICKET_WINDOWS = (BurnWindow(long="1d", short="2h", budget_percent=10), BurnWindow(long="3d", short="6h", budget_percent=10))


class AlertTier(_Model):
    """A tier of burn-rate alerts (page or ticket)."""

    disabled: bool = Field(False, description="Generate no alert for this tier.")
    labels: TemplateLabels = Field(default_factory=dict, description="Labels added to this tier's alert.")
    annotations: Annotations = Field(default_factory=dict, description="Annotations added to this tier's alert.")
    for_: Optional[Duration] = Field(None, alias="for", description="How long the condition must hold before firing.")
    windows: Optional[list[BurnWindow]] = Field(
        None, min_length=1, description="Window pairs; defaults to the SRE workbook's (page: 1h/5m 2%, 6h/30m 5%; ticket: 1d/2h 10%, 3d/6h 10%)."
    )


class NoDataAlert(_Model):
    """Alert when the SLI has no data at all (the exporter or scrape is gone)."""

    for_: PositiveDuration = Field(alias="for", description="How long data must be absent before firing.")
    disabled: bool = False
    labels: TemplateLabels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)


class Alerting(_Model):
    """Multiwindow, multi-burn-rate alerts."""

    name: Optional[MetricName] = Field(None, description="Alert name for both tiers; defaults to the SLO name in CamelCase + ErrorBudgetBurn.")
    labels: TemplateLabels = Field(default_factory=dict, description="Labels on every alert.")
    annotations: Annotations = Field(default_factory=dict, description="Annotations on every alert.")
    page_alert: AlertTier = Field(default_factory=AlertTier, description="The fast tier: pages a human.")
    ticket_alert: AlertTier = Field(default_factory=AlertTier, description="The slow tier: opens a ticket.")
    min_events: Optional[int] = Field(None, ge=0, description="No burn alert of a tier fires while its long window saw fewer events.")
    no_data: Optional[NoDataAlert] = Field(None, description="An alert when the SLI's data is absent.")


# --- gate -------------------------------------------------------------------------------------------------------


class LabelSelectorRequirement(_Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)


class LabelSelector(_Model):
    """A Kubernetes label selector for the Deployments the gate acts on."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> "LabelSelector":
        if not self.match_labels and not self.match_expressions:
            raise ValueError("an empty selector would match every Deployment in the namespace; give matchLabels or matchExpressions")
        return self


class Gate(_Model):
    """Canary protection: act on Deployments when the KPI or SLO fails."""

    selector: LabelSelector = Field(description="Deployments in the object's namespace that the gate protects.")
    action: Literal["rollback", "pause", "scaleToZero"] = Field("rollback", description="What to do on failure.")
    failure_limit: int = Field(3, ge=1, description="Consecutive failed evaluations before acting.")
    no_data: Literal["hold", "fail"] = Field("hold", description="hold: no data never acts; fail: no data counts as a failure.")
    dry_run: bool = Field(False, description="Record what would be done, change nothing.")


# --- SLO --------------------------------------------------------------------------------------------------------


class SLOSpec(_Model):
    """An objective for the share of good events over a rolling window, with an error budget."""

    service: str = Field(min_length=1, description="The service this SLO is about.")
    owner: str = Field(min_length=1, description="Team or person accountable; required.")
    description: str = Field("", description="What the SLO promises, in words.")
    objective: float = Field(gt=0, lt=100, description="Target percent of good events, 0 < objective < 100.")
    window: PositiveDuration = Field("30d", description="Rolling period of the error budget.")
    indicator: Indicator
    labels: Labels = Field(default_factory=dict, description="Labels added to every generated series and alert.")
    alerting: Alerting = Field(default_factory=Alerting)
    rule_schema: Optional[Literal["native", "sloth"]] = Field(None, description="Naming of generated rules; the operator's default when unset.")
    gate: Optional[Gate] = None

    @field_validator("objective", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number of percent between 0 and 100 (exclusive), got {value!r}")
        return value

    @model_validator(mode="after")
    def _cross(self) -> "SLOSpec":
        if self.alerting.min_events is not None and self.indicator.kind == "raw":
            raise ValueError("alerting.minEvents needs event counts: use a ratio or latency indicator, not raw")
        period = parse_duration_ms(self.window)
        for tier_name, tier in (("pageAlert", self.alerting.page_alert), ("ticketAlert", self.alerting.ticket_alert)):
            for window in tier.windows or ():
                if parse_duration_ms(window.long) > period:
                    raise ValueError(f"alerting.{tier_name}: long window {window.long} is longer than the SLO window {self.window}")
        return self


class SLO(_Model):
    """A ``kpi.dev/v1alpha1`` SLO object."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    api_version: Literal["kpi.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["SLO"]
    metadata: ObjectMeta
    spec: SLOSpec
    status: Optional[SLOStatus] = None

    @property
    def period(self) -> str:
        return normalize_duration(self.spec.window)


# --- KPI --------------------------------------------------------------------------------------------------------


class Target(_Model):
    """The good side of a KPI: ``value op target`` holds when healthy."""

    op: Literal[">=", ">", "<=", "<"] = Field(description="Comparison that holds when the KPI is healthy.")
    value: float = Field(description="Target value in the KPI's unit.")


class Thresholds(_Model):
    """Alerting tiers on the bad side of the target: warning first, then critical."""

    warning: Optional[float] = None
    critical: Optional[float] = None


KPI_UNITS = ("ratio", "percent", "seconds", "milliseconds", "bytes", "count", "requests_per_second", "currency", "score")


class KPISpec(_Model):
    """A tracked metric with a target, an owner and a window; its computation is versioned."""

    owner: str = Field(min_length=1, description="Team or person accountable; required.")
    description: str = Field("", description="What the KPI measures, in words.")
    query: PromQL = Field(description="PromQL giving the KPI's value; may use {{.window}}.")
    window: PositiveDuration = Field("5m", description="Range substituted for {{.window}}.")
    unit: str = Field("ratio", pattern=r"^[a-z][a-z0-9_]*$", description="Unit of the value: ratio, percent, seconds, count, ...")
    target: Target
    thresholds: Optional[Thresholds] = None
    for_: Duration = Field("0s", alias="for", description="How long a breach must last before it alerts or gates.")
    labels: Labels = Field(default_factory=dict, description="Labels added to every generated series and alert.")
    annotations: Annotations = Field(default_factory=dict, description="Annotations added to the alerts.")
    gate: Optional[Gate] = None

    @model_validator(mode="after")
    def _thresholds_on_bad_side(self) -> "KPISpec":
        if self.thresholds is None:
            return self
        higher_is_better = self.target.op in (">=", ">")
        target = self.target.value
        warning, critical = self.thresholds.warning, self.thresholds.critical
        side = "below" if higher_is_better else "above"
        for name, value in (("warning", warning), ("critical", critical)):
            if value is None:
                continue
            wrong = value > target if higher_is_better else value < target
            if wrong:
                raise ValueError(
                    f"thresholds.{name} {value:g} is on the good side of the target ({self.target.op} {target:g}); "
                    f"with op {self.target.op!r} thresholds must be at or {side} the target"
                )
        if warning is not None and critical is not None:
            wrong = critical > warning if higher_is_better else critical < warning
            if wrong:
                raise ValueError(f"thresholds.critical {critical:g} must be at or {side} thresholds.warning {warning:g}")
        return self


class KPI(_Model):
    """A ``kpi.dev/v1alpha1`` KPI object."""

    api_version: Literal["kpi.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["KPI"]
    metadata: ObjectMeta
    spec: KPISpec
    status: Optional[KPIStatus] = None

