"""PromQL checks done while a spec is validated, so a bad query is refused before any rule is written.

Queries in specs carry Sloth's ``{{.window}}`` template variable; it is replaced by a real duration before the
query is parsed, because ``[{{.window}}]`` is not PromQL.
"""

from __future__ import annotations

import re

import promql_parser

WINDOW_VAR = "{{.window}}"
_WINDOW_VAR_RE = re.compile(r"\{\{\s*\.window\s*\}\}")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def has_window_var(query: str) -> bool:
    """Whether a query uses ``{{.window}}`` (spaces inside the braces are tolerated, as Go templates do)."""
    return bool(_WINDOW_VAR_RE.search(query))


def render_window(query: str, window: str) -> str:
    """The query with ``{{.window}}`` replaced by a duration such as ``5m``."""
    return _WINDOW_VAR_RE.sub(window, query)


def check_promql(query: str) -> str | None:
    """The parser's message when ``query`` is not valid PromQL (after templating), else None."""
    try:
        promql_parser.parse(render_window(query, "5m"))
    except ValueError as error:
        return f"invalid PromQL: {error}"
    except Exception as error:  # the parser is a compiled extension; any failure is a refusal, never a crash
        return f"invalid PromQL: {error}"
    return None


def check_bare_metric_name(name: str) -> str | None:
    """The message when ``name`` (already a valid metric name) cannot stand bare in a query.

    PromQL reads some words as keywords in any case (``on``, ``ignoring``, ``group_left``, ``bool``, ``atan2``,
    ``inf``, ``nan``): ``rate(on{}[5m])`` does not parse, so a counter with such a name would pass validation and
    give rules that Prometheus refuses.
    """
    try:
        promql_parser.parse(f"rate({name}{{}}[5m])")
    except Exception:
        return f"{name!r} is a PromQL keyword and cannot be used as a bare metric name"
    return None


def check_selector(selector: str) -> str | None:
    """The message when ``selector`` is not a label matcher list like ``{job="api",code!~"5.."}``."""
    text = selector.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return 'must be a label selector in braces, like {job="checkout"}'
    if text == "{}":
        return None
    try:
        promql_parser.parse("up" + text)
    except Exception as error:
        return f"invalid label selector: {error}"
    return None


def escape_label_value(value: str) -> str:
    """A label value quoted for PromQL: backslashes, quotes and newlines escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def sanitize_label_name(name: str) -> str:
    """A valid Prometheus label name made from any text (invalid characters become ``_``)."""
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = "_" + cleaned
    return cleaned


def sanitize_metric_name(name: str) -> str:
    """A valid metric / record name made from any text."""
    cleaned = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = "_" + cleaned
    return cleaned


def merge_selectors(*selectors: str) -> str:
    """Join several ``{...}`` selectors into one (``{a="1"}`` + ``{b="2"}`` -> ``{a="1",b="2"}``)."""
    parts = []
    for selector in selectors:
        inner = selector.strip()[1:-1].strip() if selector else ""
        if inner:
            parts.append(inner.rstrip(","))
    return "{" + ",".join(parts) + "}"


def format_float(value: float) -> str:
    """A float written as Go's ``%g`` with shortest precision writes it (Sloth's goldens use that form).

    Whole numbers lose their ``.0`` (``30`` not ``30.0``); others keep the shortest round-trip digits, which is
    what both Go and Python print.
    """
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = exponent[0] if exponent[0] in "+-" else "+"
        digits = exponent.lstrip("+-").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    return text
