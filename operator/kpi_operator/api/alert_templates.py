"""The spec fields Prometheus expands as alert templates, and the refusal of ``query`` in them.

Each alert label and annotation value the user writes is a Go template (``spec.labels``, service, owner and
description are data: the generators escape them). Their syntax is checked by the models; what the models cannot
decide is whether the ``query`` template function may be used: it runs any PromQL, with Prometheus' rights, each
time the alert fires, so it is the operator's (or the CLI's) setting that allows it, off by default.
"""

from __future__ import annotations

from typing import Union

from .go_template import TemplateError, parse_template
from .loading import Problem
from .models import KPI, SLO

#: The operator flag (and ``validate`` / ``generate`` flag) that allows ``{{ query ... }}`` in alert templates.
ALLOW_TEMPLATE_QUERIES_FLAG = "--allow-template-queries"


def template_fields(obj: Union[SLO, KPI]) -> list[tuple[str, str]]:
    """``(field path, text)`` of every user-written alert label and annotation value of ``obj``."""
    found: list[tuple[str, str]] = []

    def add(path: str, values: dict[str, str]) -> None:
        found.extend((f"{path}.{key}", text) for key, text in values.items())

    if isinstance(obj, KPI):
        add("spec.annotations", obj.spec.annotations)
        return found
    alerting = obj.spec.alerting
    add("spec.alerting.labels", alerting.labels)
    add("spec.alerting.annotations", alerting.annotations)
    for name, tier in (("pageAlert", alerting.page_alert), ("ticketAlert", alerting.ticket_alert)):
        add(f"spec.alerting.{name}.labels", tier.labels)
        add(f"spec.alerting.{name}.annotations", tier.annotations)
    if alerting.no_data is not None:
        add("spec.alerting.noData.labels", alerting.no_data.labels)
        add("spec.alerting.noData.annotations", alerting.no_data.annotations)
    return found


def template_query_problems(obj: Union[SLO, KPI]) -> list[Problem]:
    """One problem per alert template of ``obj`` that calls ``query``."""
    problems = []
    for path, text in template_fields(obj):
        try:
            functions = parse_template(text).functions
        except TemplateError:
            continue  # the models refuse it already
        if "query" in functions:
            problems.append(
                Problem(
                    path,
                    "uses the template function query, which runs PromQL each time the alert fires; refused unless "
                    f"the operator runs with {ALLOW_TEMPLATE_QUERIES_FLAG}",
                )
            )
    return problems
