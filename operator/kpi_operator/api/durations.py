"""Prometheus durations: parsed once, formatted the way Prometheus prints them.

Windows appear in record names (``slo:sli_error:ratio_rate4w``), so the spelling matters: Prometheus (and Sloth,
which uses Prometheus' own formatter) prints 28d as ``4w`` and 90m as ``1h30m``. Formatting here follows
Prometheus' ``model.Duration.String`` so that names generated here equal Sloth's.
"""

from __future__ import annotations

import functools
import re

_UNITS: dict[str, int] = {
    "y": 365 * 24 * 3600 * 1000,
    "w": 7 * 24 * 3600 * 1000,
    "d": 24 * 3600 * 1000,
    "h": 3600 * 1000,
    "m": 60 * 1000,
    "s": 1000,
    "ms": 1,
}
_PART = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")
_WHOLE = re.compile(r"(([0-9]+)(ms|y|w|d|h|m|s))+")


class DurationError(ValueError):
    """A string that is not a Prometheus duration."""


def parse_duration_ms(text: str) -> int:
    """Milliseconds in a Prometheus duration such as ``5m``, ``1h30m`` or ``4w``.

    Units must come from largest to smallest, each at most once, as Prometheus requires; ``0`` alone is zero.
    """
    if not isinstance(text, str):
        raise DurationError(f"not a duration: {text!r} (expected a string like 5m, 1h or 30d)")
    return _parse_text_ms(text)


@functools.lru_cache(maxsize=1024)
def _parse_text_ms(text: str) -> int:
    """:func:`parse_duration_ms` of a string, remembered: the same few windows (``5m``, ``1h``, ``30d``) are parsed
    for every SLO, by validation, rule generation and every evaluation cycle. Only strings reach the cache (an
    unhashable value from a loaded document would make it raise ``TypeError`` instead of ``DurationError``);
    errors are not remembered, and a cluster's distinct durations fit the bound many times over."""
    if text == "0":
        return 0
    if not _WHOLE.fullmatch(text):
        raise DurationError(f"not a duration: {text!r} (expected a number and a unit: ms, s, m, h, d, w, y; e.g. 30d)")
    order = list(_UNITS)
    last = -1
    total = 0
    for number, unit in _PART.findall(text):
        index = order.index(unit)
        if index <= last:
            raise DurationError(f"not a duration: {text!r} (units must go from largest to smallest, once each)")
        last = index
        total += int(number) * _UNITS[unit]
    return total


def parse_duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration."""
    return parse_duration_ms(text) / 1000.0


def format_duration_ms(ms: int) -> str:
    """Spell a duration as Prometheus does: the largest units first, ``0s`` for zero.

    Years and weeks are used only when they divide the whole duration (``90d`` stays ``90d``, not ``12w6d``),
    exactly as Prometheus prints them.
    """
    if ms == 0:
        return "0s"
    out = []
    rest = ms
    for unit, size in _UNITS.items():
        if unit in ("y", "w") and rest % size:
            continue
        if rest >= size:
            count, rest = divmod(rest, size)
            out.append(f"{count}{unit}")
    return "".join(out)


def normalize_duration(text: str) -> str:
    """The canonical spelling of a duration (``28d`` -> ``4w``, ``60m`` -> ``1h``)."""
    return format_duration_ms(parse_duration_ms(text))
