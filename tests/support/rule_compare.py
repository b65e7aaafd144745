"""Rule-by-rule comparison of rule groups, whitespace and float formatting aside.

Sloth's goldens print floats with Go's formatter and fold long lines; what must be equal is the meaning: the
same groups, the same rules in the same order, the same names, labels and annotations, and expressions equal
once whitespace is removed and numbers are compared as numbers.
"""

from __future__ import annotations

import re
from typing import Any

_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+(?:e[+-]?\d+)?|\d+e[+-]?\d+)(?![\w.])")


def normalize_expr(expr: str) -> str:
    compact = re.sub(r"\s+", "", expr)
    return _NUMBER.sub(lambda m: repr(round(float(m.group(1)), 12)), compact)


def normalize_rule(rule: dict[str, Any], ignore_labels: tuple[str, ...] = ()) -> dict[str, Any]:
    out = dict(rule)
    out["expr"] = normalize_expr(str(rule.get("expr", "")))
    if "labels" in out:
        out["labels"] = {k: str(v) for k, v in out["labels"].items() if k not in ignore_labels}
    if "annotations" in out:
        out["annotations"] = {k: re.sub(r"\s+", " ", str(v)) for k, v in out["annotations"].items()}
    return out


def diff_groups(actual: list[dict[str, Any]], expected: list[dict[str, Any]], ignore_labels: tuple[str, ...] = ()) -> list[str]:
    """Human-readable differences; empty when the groups are equal rule by rule."""
    problems = []
    names_a = [g["name"] for g in actual]
    names_e = [g["name"] for g in expected]
    if names_a != names_e:
        problems.append(f"group names differ: {names_a} != {names_e}")
    for ga, ge in zip(actual, expected):
        ra, re_ = ga.get("rules", []), ge.get("rules", [])
        if len(ra) != len(re_):
            problems.append(f"{ga['name']}: {len(ra)} rules != {len(re_)}")
        for index, (a, e) in enumerate(zip(ra, re_)):
            na, ne = normalize_rule(a, ignore_labels), normalize_rule(e, ignore_labels)
            for key in sorted(set(na) | set(ne)):
                if na.get(key) != ne.get(key):
                    problems.append(f"{ga['name']} rule {index} ({a.get('record') or a.get('alert')}) {key}:\n  got      {na.get(key)!r}\n  expected {ne.get(key)!r}")
    return problems
