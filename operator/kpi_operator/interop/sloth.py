"""Sloth specs -> kpi.dev SLOs: ``prometheus/v1`` files and ``sloth.slok.dev/v1`` ``PrometheusServiceLevel`` CRs.

One SLO object per Sloth SLO, named after the Sloth SLO, so that with ``ruleSchema: sloth`` every series keeps
its ``sloth_id`` / ``sloth_slo`` labels (``tests/interop`` compares the result with Sloth's own goldens). The
mapping is field for field:

- ``service`` -> ``spec.service``; ``description``, ``objective`` (percent) unchanged;
- group ``labels`` merged with the SLO's ``labels`` -> ``spec.labels`` (the SLO's win, as in Sloth);
- ``sli.events`` (``error_query`` / ``total_query``) -> ``indicator.ratio`` (``errors`` / ``total``);
  ``sli.raw.error_ratio_query`` -> ``indicator.raw.errorRatio``; both keep ``{{.window}}`` as they are;
- ``alerting`` ``name``, ``labels``, ``annotations``; ``page_alert`` / ``ticket_alert`` with ``disable`` ->
  ``pageAlert`` / ``ticketAlert`` with ``disabled``;
- the window: Sloth specs carry none (its CLI takes ``--default-slo-period``, 30d by default), so it is
  ``ImportOptions.default_window``;
- a CR's ``metadata.labels`` stay object labels (copied to the PrometheusRule, for Prometheus' ruleSelector).

Refused, with the field named: SLI plugins (``sli.plugin``) and SLO plugin chains (``slo_plugins``,
``plugins``), because their rules are computed by Go code at Sloth run time; ``AlertWindows`` documents (set the
tiers' ``windows`` instead); any field Sloth does not have (``sloth_spec`` holds the models of both spellings).
"""

from __future__ import annotations

from typing import Any, Optional

from .objects import ImportOptions, build_object, choose_owner, namespace_for
from .problem import ImportProblem, join
from .sloth_spec import CR_API_VERSION, CR_KIND, FILE_VERSION, Alerting, Group, PrometheusServiceLevel, Sli, Slo, SlothFile, SloPlugins
from .spec_model import parse, spelling


def convert(document: dict[str, Any], options: ImportOptions = ImportOptions()) -> list[dict[str, Any]]:
    """The SLO objects of one Sloth document; raises ``ImportProblem`` naming the Sloth field."""
    if document.get("version") == FILE_VERSION:
        spec = parse(SlothFile, document)
        return _group(spec, "", options, namespace_for(options, None), {}, f"Sloth {FILE_VERSION} service {spec.service}")
    if document.get("apiVersion") != CR_API_VERSION:
        raise ImportProblem("apiVersion", f"expected Sloth's {CR_API_VERSION} or a version: {FILE_VERSION} file, got {document.get('apiVersion')!r}")
    kind = document.get("kind")
    if kind == "AlertWindows":
        raise ImportProblem(
            "kind",
            "AlertWindows (custom burn-rate windows) are not imported on their own; "
            "set spec.alerting.pageAlert.windows / ticketAlert.windows on the SLOs instead",
        )
    if kind != CR_KIND:
        raise ImportProblem("kind", f"expected {CR_KIND}, got {kind!r}")
    resource = parse(PrometheusServiceLevel, document)
    metadata = resource.metadata
    source = f"Sloth {CR_KIND} {metadata.namespace or 'default'}/{metadata.name}"
    return _group(resource.spec, "spec", options, namespace_for(options, metadata.namespace), metadata.labels, source)


def _group(group: Group, path: str, options: ImportOptions, namespace: str, object_labels: dict[str, str], source: str) -> list[dict[str, Any]]:
    _refuse_plugins(group.slo_plugins, join(path, spelling(type(group), "slo_plugins")))
    slos_path = join(path, "slos")
    if not group.slos:
        raise ImportProblem(slos_path, "a Sloth spec needs at least one SLO")
    return [
        _slo(slo, join(slos_path, index), options, namespace, group.service, group.labels, object_labels, source)
        for index, slo in enumerate(group.slos)
    ]


def _refuse_plugins(plugins: Optional[SloPlugins], path: str) -> None:
    if plugins is not None and plugins.chain:
        raise ImportProblem(
            path,
            "Sloth SLO plugins rewrite the generated rules with Go code at Sloth run time; kpi-operator has no plugin "
            "chain. Remove them, or keep this SLO on Sloth",
        )


def _slo(
    slo: Slo,
    path: str,
    options: ImportOptions,
    namespace: str,
    service: str,
    group_labels: dict[str, str],
    object_labels: dict[str, str],
    source: str,
) -> dict[str, Any]:
    _refuse_plugins(slo.plugins, join(path, "plugins"))
    labels = {**group_labels, **slo.labels}
    owner, note = choose_owner(labels, {}, options, "a Sloth spec")
    spec: dict[str, Any] = {
        "service": service,
        "owner": owner,
        "description": slo.description,
        "objective": slo.objective,
        "window": options.default_window,
        "indicator": _indicator(slo.sli, join(path, "sli")),
        "labels": labels,
        "alerting": _alerting(slo.alerting),
    }
    return build_object("SLO", slo.name, namespace, spec, source=source, labels=object_labels, notes=[note] if note else None)


def _indicator(sli: Sli, path: str) -> dict[str, Any]:
    if sli.plugin is not None:
        raise ImportProblem(
            join(path, "plugin"),
            f"Sloth SLI plugins (id {sli.plugin.id!r}) build their queries with Go code at Sloth run time and are not "
            "supported; write the SLI as events (error and total queries) or raw (an error-ratio query)",
        )
    given = [kind for kind, value in (("events", sli.events), ("raw", sli.raw)) if value is not None]
    if len(given) != 1:
        raise ImportProblem(path, f"exactly one of events, raw, plugin is required (found: {', '.join(given) or 'none'})")
    if sli.events is not None:
        return {"ratio": {"errors": sli.events.error_query, "total": sli.events.total_query}}
    assert sli.raw is not None
    return {"raw": {"errorRatio": sli.raw.error_ratio_query}}


def _alerting(alerting: Optional[Alerting]) -> dict[str, Any]:
    if alerting is None:
        return {}
    result: dict[str, Any] = {}
    if alerting.name:
        result["name"] = alerting.name
    if alerting.labels:
        result["labels"] = alerting.labels
    if alerting.annotations:
        result["annotations"] = alerting.annotations
    for tier, target_key in ((alerting.page_alert, "pageAlert"), (alerting.ticket_alert, "ticketAlert")):
        if tier is None:
            continue
        converted: dict[str, Any] = {}
        if tier.disable:
            converted["disabled"] = True
        if tier.labels:
            converted["labels"] = tier.labels
        if tier.annotations:
            converted["annotations"] = tier.annotations
        if converted:
            result[target_key] = converted
    return result
