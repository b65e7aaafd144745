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
tiers' ``windows`` instead); any field this importer does not know.
"""

from __future__ import annotations

from typing import Any

from .objects import ImportOptions, build_object, choose_owner, namespace_for
from .problem import ImportProblem, join
from .reading import flag, known_fields, mapping, number, sequence, string, string_map

FILE_VERSION = "prometheus/v1"
CR_API_VERSION = "sloth.slok.dev/v1"
CR_KIND = "PrometheusServiceLevel"

# Field spellings: the file format is snake_case, the Kubernetes CR camelCase.
_SNAKE = {
    "plugins_group": "slo_plugins",
    "error": "error_query",
    "total": "total_query",
    "ratio": "error_ratio_query",
    "page": "page_alert",
    "ticket": "ticket_alert",
}
_CAMEL = {
    "plugins_group": "sloPlugins",
    "error": "errorQuery",
    "total": "totalQuery",
    "ratio": "errorRatioQuery",
    "page": "pageAlert",
    "ticket": "ticketAlert",
}


def convert(document: dict[str, Any], options: ImportOptions = ImportOptions()) -> list[dict[str, Any]]:
    """The SLO objects of one Sloth document; raises ``ImportProblem`` naming the Sloth field."""
    if document.get("version") == FILE_VERSION:
        known_fields(document, ("version", "service", "labels", "slo_plugins", "slos"), "", "Sloth's prometheus/v1 spec")
        service = string(document.get("service"), "service", required=True)
        return _group(document, "", _SNAKE, options, namespace_for(options, None), {}, f"Sloth {FILE_VERSION} service {service}")
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
    known_fields(document, ("apiVersion", "kind", "metadata", "spec", "status"), "", f"Sloth's {CR_KIND}")
    metadata = mapping(document.get("metadata"), "metadata", required=True)
    spec = mapping(document.get("spec"), "spec", required=True)
    known_fields(spec, ("service", "labels", "sloPlugins", "slos"), "spec", f"Sloth's {CR_KIND}")
    namespace = namespace_for(options, metadata.get("namespace"))
    object_labels = string_map(metadata.get("labels"), "metadata.labels")
    source = f"Sloth {CR_KIND} {metadata.get('namespace') or 'default'}/{metadata.get('name')}"
    return _group(spec, "spec", _CAMEL, options, namespace, object_labels, source)


def _group(
    group: dict[str, Any], path: str, names: dict[str, str], options: ImportOptions, namespace: str, object_labels: dict[str, str], source: str
) -> list[dict[str, Any]]:
    service = string(group.get("service"), join(path, "service"), required=True)
    _refuse_plugins(group.get(names["plugins_group"]), join(path, names["plugins_group"]))
    group_labels = string_map(group.get("labels"), join(path, "labels"))
    slos = sequence(group.get("slos"), join(path, "slos"), required=True)
    if not slos:
        raise ImportProblem(join(path, "slos"), "a Sloth spec needs at least one SLO")
    return [
        _slo(mapping(item, join(join(path, "slos"), index), required=True), join(join(path, "slos"), index), names, options, namespace, service, group_labels, object_labels, source)
        for index, item in enumerate(slos)
    ]


def _refuse_plugins(value: Any, path: str) -> None:
    plugins = mapping(value, path)
    if sequence(plugins.get("chain"), join(path, "chain")):
        raise ImportProblem(
            path,
            "Sloth SLO plugins rewrite the generated rules with Go code at Sloth run time; kpi-operator has no plugin "
            "chain. Remove them, or keep this SLO on Sloth",
        )


def _slo(
    slo: dict[str, Any],
    path: str,
    names: dict[str, str],
    options: ImportOptions,
    namespace: str,
    service: str,
    group_labels: dict[str, str],
    object_labels: dict[str, str],
    source: str,
) -> dict[str, Any]:
    known_fields(slo, ("name", "description", "objective", "labels", "sli", "alerting", "plugins"), path, "a Sloth SLO")
    name = string(slo.get("name"), join(path, "name"), required=True)
    _refuse_plugins(slo.get("plugins"), join(path, "plugins"))
    labels = {**group_labels, **string_map(slo.get("labels"), join(path, "labels"))}
    owner, note = choose_owner(labels, {}, options, "a Sloth spec")
    spec: dict[str, Any] = {
        "service": service,
        "owner": owner,
        "description": string(slo.get("description"), join(path, "description")),
        "objective": number(slo.get("objective"), join(path, "objective"), required=True),
        "window": options.default_window,
        "indicator": _indicator(mapping(slo.get("sli"), join(path, "sli"), required=True), join(path, "sli"), names),
        "labels": labels,
        "alerting": _alerting(mapping(slo.get("alerting"), join(path, "alerting")), join(path, "alerting"), names),
    }
    return build_object("SLO", name, namespace, spec, source=source, labels=object_labels, notes=[note] if note else None)


def _indicator(sli: dict[str, Any], path: str, names: dict[str, str]) -> dict[str, Any]:
    if "plugin" in sli:
        plugin = mapping(sli.get("plugin"), join(path, "plugin"))
        raise ImportProblem(
            join(path, "plugin"),
            f"Sloth SLI plugins (id {plugin.get('id')!r}) build their queries with Go code at Sloth run time and are not "
            "supported; write the SLI as events (error and total queries) or raw (an error-ratio query)",
        )
    known_fields(sli, ("events", "raw"), path, "a Sloth SLI")
    given = [kind for kind in ("events", "raw") if sli.get(kind) is not None]
    if len(given) != 1:
        raise ImportProblem(path, f"exactly one of events, raw, plugin is required (found: {', '.join(given) or 'none'})")
    if given == ["events"]:
        events = mapping(sli["events"], join(path, "events"))
        known_fields(events, (names["error"], names["total"]), join(path, "events"), "a Sloth events SLI")
        return {
            "ratio": {
                "errors": string(events.get(names["error"]), join(join(path, "events"), names["error"]), required=True),
                "total": string(events.get(names["total"]), join(join(path, "events"), names["total"]), required=True),
            }
        }
    raw = mapping(sli["raw"], join(path, "raw"))
    known_fields(raw, (names["ratio"],), join(path, "raw"), "a Sloth raw SLI")
    return {"raw": {"errorRatio": string(raw.get(names["ratio"]), join(join(path, "raw"), names["ratio"]), required=True)}}


def _alerting(alerting: dict[str, Any], path: str, names: dict[str, str]) -> dict[str, Any]:
    known_fields(alerting, ("name", "labels", "annotations", names["page"], names["ticket"]), path, "Sloth's alerting")
    result: dict[str, Any] = {}
    name = string(alerting.get("name"), join(path, "name"))
    if name:
        result["name"] = name
    for key in ("labels", "annotations"):
        values = string_map(alerting.get(key), join(path, key))
        if values:
            result[key] = values
    for source_key, target_key in ((names["page"], "pageAlert"), (names["ticket"], "ticketAlert")):
        tier_path = join(path, source_key)
        tier = mapping(alerting.get(source_key), tier_path)
        known_fields(tier, ("disable", "labels", "annotations"), tier_path, "a Sloth alert tier")
        converted: dict[str, Any] = {}
        if flag(tier.get("disable"), join(tier_path, "disable")):
            converted["disabled"] = True
        for key in ("labels", "annotations"):
            values = string_map(tier.get(key), join(tier_path, key))
            if values:
                converted[key] = values
        if converted:
            result[target_key] = converted
    return result
