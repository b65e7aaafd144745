"""PromQL checks done while a spec is validated, so a bad query is refused before any rule is written.

Queries in specs carry Sloth's ``{{.window}}`` template variable; it is replaced by a real duration before the
query is parsed, because ``[{{.window}}]`` is not PromQL.

The parser (``promql_parser``, compiled) recurses without a bound and holds the GIL: 20,000 nested parentheses
crash the process, a few thousand stall it for seconds, and so does a long chain of binary operators (its cost
grows with the square of the chain). Every query is therefore measured first by :func:`check_limits`, a linear
scan in pure Python, and the parser never sees one over :data:`MAX_QUERY_LENGTH` characters, nested deeper than
:data:`MAX_NESTING` brackets or with more than :data:`MAX_OPERATORS` binary operators. A query at all three
limits parses in well under a second (docs/api.md gives the figures).
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


#: Longest query a spec may hold (the CRDs' ``maxLength`` of every PromQL field); real ones are under 1 KiB.
MAX_QUERY_LENGTH = 8192
#: Deepest nesting of ``()``, ``[]`` and ``{}`` (outside string literals); real queries nest under 10.
MAX_NESTING = 64
#: Most binary operators (``+ - * / % ^ == != > < >= <= and or unless atan2``) in one query.
MAX_OPERATORS = 256

_OPERATOR_WORDS = frozenset({"and", "or", "unless", "atan2"})


def check_limits(query: str) -> str | None:
    """The message when ``query`` is too long, too deeply nested or has too many operators for the parser, else None.

    One pass over the text: string literals (``"..."``, ``'...'``, backquoted) and ``#`` comments are skipped,
    brackets are counted, and operator characters and words outside braces (where ``=``, ``!=`` are matchers)
    are counted, an overcount for unary signs and a ``<=`` that is one operator counted once.
    """
    if len(query) > MAX_QUERY_LENGTH:
        return f"the query is {len(query)} characters long; at most {MAX_QUERY_LENGTH} are allowed"
    depth = deepest = braces = operators = 0
    at, size = 0, len(query)
    while at < size:
        ch = query[at]
        if ch in "\"'`":
            end = at + 1
            while end < size and query[end] != ch:
                end += 2 if query[end] == "\\" and ch != "`" else 1
            at = end + 1
            continue
        if ch == "#":
            end = query.find("\n", at)
            at = size if end < 0 else end + 1
            continue
        if ch in "([{":
            depth += 1
            braces += ch == "{"
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                return f"the query nests brackets more than {MAX_NESTING} deep; at most {MAX_NESTING} levels are allowed"
        elif ch in ")]}":
            depth = max(depth - 1, 0)
            braces = max(braces - (ch == "}"), 0)
        elif braces == 0 and ch in "+-*/%^<>=!":
            if ch in "<>=!" and query.startswith("=", at + 1):
                at += 1  # a two-character comparison is one operator
            operators += 1
        elif braces == 0 and ch.isalpha():
            end = at
            while end < size and (query[end].isalnum() or query[end] in "_:"):
                end += 1
            operators += query[at:end].lower() in _OPERATOR_WORDS
            at = end
            continue
        if operators > MAX_OPERATORS:
            return f"the query has more than {MAX_OPERATORS} binary operators; at most {MAX_OPERATORS} are allowed"
        at += 1
    return None


def _parse(query: str) -> None:
    """``promql_parser.parse`` behind :func:`check_limits`: raises ValueError with the limit's message."""
    message = check_limits(query)
    if message:
        raise ValueError(message)
    promql_parser.parse(query)


def check_promql(query: str) -> str | None:
    """The message when ``query`` is over the limits or not valid PromQL (after templating), else None."""
    message = check_limits(query)
    if message:
        return message
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
        _parse(f"rate({name}{{}}[5m])")
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
    message = check_limits(text)
    if message:
        return message
    try:
        _parse("up" + text)
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
