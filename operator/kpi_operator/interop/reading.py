"""Reading fields of a source document with the field's path at hand, so every refusal names the field.

Source formats are read strictly: a field this importer does not know is refused rather than dropped, because
a silently dropped field (a Sloth plugin, a Pyrra option) would change what the imported SLO measures or alerts on.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from .problem import ImportProblem, join


def mapping(value: Any, path: str, required: bool = False) -> dict[str, Any]:
    """``value`` as a dict; ``None`` is an empty dict unless ``required``."""
    if value is None:
        if required:
            raise ImportProblem(path, "required field is missing")
        return {}
    if not isinstance(value, dict):
        raise ImportProblem(path, f"expected a mapping, got {type(value).__name__}")
    return value


def sequence(value: Any, path: str, required: bool = False) -> list[Any]:
    """``value`` as a list; ``None`` is an empty list unless ``required``."""
    if value is None:
        if required:
            raise ImportProblem(path, "required field is missing")
        return []
    if not isinstance(value, list):
        raise ImportProblem(path, f"expected a list, got {type(value).__name__}")
    return value


def string(value: Any, path: str, required: bool = False) -> Optional[str]:
    """``value`` as a non-empty string, or None when absent and not ``required``."""
    if value is None or value == "":
        if required:
            raise ImportProblem(path, "required field is missing")
        return None
    if not isinstance(value, str):
        raise ImportProblem(path, f"expected a string, got {value!r}")
    return value


def number(value: Any, path: str, required: bool = False) -> Optional[float]:
    """``value`` as a float (numbers, or strings that hold one, as Pyrra's ``target: "99.5"``)."""
    if value is None:
        if required:
            raise ImportProblem(path, "required field is missing")
        return None
    if isinstance(value, bool):
        raise ImportProblem(path, f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return _tidy(float(value))
    if isinstance(value, str):
        try:
            return _tidy(float(value))
        except ValueError:
            pass
    raise ImportProblem(path, f"expected a number, got {value!r}")


def _tidy(value: float) -> float:
    """Whole numbers as ints, so that ``95`` stays ``95`` in the written YAML rather than ``95.0``."""
    return int(value) if value.is_integer() else value  # type: ignore[return-value]


def flag(value: Any, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ImportProblem(path, f"expected true or false, got {value!r}")
    return value


def string_map(value: Any, path: str) -> dict[str, str]:
    """A ``{name: value}`` map of strings (labels, annotations); numbers are written as text."""
    result: dict[str, str] = {}
    for key, item in mapping(value, path).items():
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ImportProblem(join(path, str(key)), f"expected a string, got {item!r}")
        result[str(key)] = str(item)
    return result


def known_fields(value: dict[str, Any], allowed: Iterable[str], path: str, format_name: str) -> None:
    """Refuse a field the importer does not know: it may carry meaning that would otherwise be lost."""
    allowed = set(allowed)
    for key in value:
        if key not in allowed:
            raise ImportProblem(
                join(path, str(key)),
                f"unknown field in {format_name}; the importer does not know what it means, so it refuses rather than drop it",
            )
