"""Giving a query from another tool the ``{{.window}}`` range that kpi.dev SLO queries need.

Each burn-rate window evaluates the SLI over its own range, so an SLO query must say where that range goes.
Sloth's OpenSLO input already writes ``[{{.window}}]`` (and OpenSLO's own go-sdk examples do too); other OpenSLO
queries carry a literal range or none. The rules, in order:

1. a query that has ``{{.window}}`` is kept as it is;
2. a query whose range selectors all have the same literal length (``rate(x[5m])``) gets ``[{{.window}}]`` in
   their place: the literal was the author's choice of one window, the SLO needs all of them;
3. for counters (OpenSLO ``counter: true``), a bare selector or a ``sum`` of one becomes
   ``sum(rate(<selector>[{{.window}}]))``, which is what a counter of events means per window;
4. anything else is refused with the reason: ranges of different lengths, subqueries, or no range at all.

Ranges are only looked for outside quoted strings, so a regex matcher such as ``path=~"/v[12]/.*"`` is safe.
"""

from __future__ import annotations

import re
from typing import Optional

import promql_parser

from ..api.promql import WINDOW_VAR, check_limits, has_window_var
from .problem import ImportProblem

_RANGE = re.compile(r"\[\s*((?:\d+(?:ms|[smhdwy]))+)\s*(:[^\]]*)?\]")


def _unquoted_spans(query: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every part of ``query`` outside string literals."""
    spans = []
    start = 0
    index = 0
    quote: Optional[str] = None
    while index < len(query):
        char = query[index]
        if quote:
            if char == "\\" and quote != "`":
                index += 2
                continue
            if char == quote:
                quote = None
                start = index + 1
        elif char in "\"'`":
            spans.append((start, index))
            quote = char
        index += 1
    if quote is None:
        spans.append((start, len(query)))
    return spans


def _ranges(query: str) -> list[re.Match[str]]:
    found = []
    for start, end in _unquoted_spans(query):
        found.extend(_RANGE.finditer(query, start, end))
    return found


def _counter_rate(query: str) -> Optional[str]:
    """``sum [by (...)] (rate(<selector>[{{.window}}]))`` for a bare selector or a sum of one, else None."""
    if check_limits(query):
        return None  # over the parser's limits: the imported query is kept as is and refused when validated
    try:
        expr = promql_parser.parse(query)
    except Exception:
        return None
    kind = type(expr).__name__
    if kind == "VectorSelector":
        return f"sum(rate({query.strip()}[{WINDOW_VAR}]))"
    if kind == "AggregateExpr" and str(expr.op) == "sum" and type(expr.expr).__name__ == "VectorSelector" and expr.param is None:
        if expr.modifier is None:
            return f"sum(rate({expr.expr}[{WINDOW_VAR}]))"
        return f"sum {expr.modifier} (rate({expr.expr}[{WINDOW_VAR}]))"
    return None


def template_window(query: str, path: str, counter: bool = False) -> str:
    """``query`` with ``{{.window}}`` as its range, or ``ImportProblem`` at ``path`` saying why it cannot have one."""
    if has_window_var(query):
        return query
    ranges = _ranges(query)
    if ranges:
        if any(match.group(2) for match in ranges):
            raise ImportProblem(path, f"has a subquery range ({ranges[0].group(0)}); write the query with [{WINDOW_VAR}] where each SLO window goes")
        lengths = sorted({match.group(1) for match in ranges})
        if len(lengths) > 1:
            raise ImportProblem(
                path, f"has ranges of different lengths ({', '.join(lengths)}), so it is unclear which one is the SLO window; write [{WINDOW_VAR}] there"
            )
        out = []
        last = 0
        for match in sorted(ranges, key=lambda m: m.start()):
            out.append(query[last:match.start()])
            out.append(f"[{WINDOW_VAR}]")
            last = match.end()
        out.append(query[last:])
        return "".join(out)
    if counter:
        rated = _counter_rate(query)
        if rated is not None:
            return rated
    raise ImportProblem(
        path,
        f"has no range selector to put each SLO window in; write it with [{WINDOW_VAR}], e.g. sum(rate(x[{WINDOW_VAR}])) "
        "(counter: true allows a bare counter selector or a sum of one)",
    )
