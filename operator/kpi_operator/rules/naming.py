"""Names and selectors for generated rules: sanitised names, escaped label values."""

from __future__ import annotations

import re

from ..api.promql import escape_label_value, sanitize_metric_name


def camel_case(name: str) -> str:
    """``checkout-availability`` -> ``CheckoutAvailability`` (for default alert names)."""
    words = [word for word in re.split(r"[^a-zA-Z0-9]+", name) if word]
    return sanitize_metric_name("".join(word[:1].upper() + word[1:] for word in words) or "Unnamed")


def selector(labels: dict[str, str], separator: str = ", ") -> str:
    """``{a="1", b="2"}`` with every value escaped; keys keep the given order."""
    return "{" + separator.join(f"{key}={escape_label_value(value)}" for key, value in labels.items()) + "}"


def template_literal(text: str) -> str:
    """``text`` as Go-template text that renders as itself.

    Prometheus expands an alert's labels and annotations as Go templates. Spec fields that are data, not templates
    (``spec.labels``, ``service``, ``owner``, ``description``), may contain ``{{``, which would otherwise open an
    action: ``a{{b`` fails to load, and its whole rule group with it. Each ``{{`` becomes an action printing it.
    """
    return text.replace("{{", '{{ "{{" }}')


def template_literals(labels: dict[str, str]) -> dict[str, str]:
    """Every value of ``labels`` as :func:`template_literal`."""
    return {key: template_literal(value) for key, value in labels.items()}


#: The most series one recording rule of an object may write: the ``limit`` of its recording groups. A KPI is one
#: number (or one per group, e.g. per route); a query that yields 200,000 series would make every cycle's shared
#: read-back of every object slow. Above it Prometheus writes none of the rule's series and reports the rule as
#: failing ("exceeded limit of 1000 with ... series"), which the evaluation shows on that object alone
#: (``TooManySeries``).
SERIES_LIMIT = 1000


def group_name(prefix: str, *parts: str) -> str:
    """``prefix:namespace:name``: a rule group name unique across a whole rule file.

    ``:`` cannot occur in a namespace or object name (DNS labels), so namespace ``a-b`` with name ``c`` and
    namespace ``a`` with name ``b-c`` get different groups, which a ``-`` join would merge.
    """
    return ":".join([prefix, *(re.sub(r"[^a-zA-Z0-9_.-]", "_", part) for part in parts)])
