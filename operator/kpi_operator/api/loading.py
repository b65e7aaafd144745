"""From YAML text to validated objects, with every problem named by document and field.

One bad document never hides the errors of the others: each document is validated on its own and problems are
collected, not raised. The operator uses ``parse_object`` on one object's body; the CLI uses ``load_documents``
over files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Union

import yaml
from pydantic import ValidationError

from .models import API_VERSION, KPI, SLO

# libyaml's parser when PyYAML was built with it (the wheels are): several times faster on large files.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

KINDS: dict[str, type[Union[SLO, KPI]]] = {"SLO": SLO, "KPI": KPI}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one document: where (``spec.objective``) and why, in words a person can act on."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class Document:
    """One YAML document of a file: the object when valid, else its problems."""

    source: str
    index: int
    body: Any
    obj: Optional[Union[SLO, KPI]] = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``document 2 (SLO/checkout-availability)``: how messages point at a document."""
        kind = name = None
        if isinstance(self.body, dict):
            kind = self.body.get("kind")
            metadata = self.body.get("metadata")
            if isinstance(metadata, dict):
                name = metadata.get("name")
        if kind or name:
            return f"document {self.index} ({kind or '?'}/{name or '?'})"
        return f"document {self.index}"

    def messages(self) -> list[str]:
        return [f"{self.source}: {self.label}: {problem}" for problem in self.problems]


def _path(loc: Iterable[Any]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif isinstance(item, str) and item.startswith(("function-", "function_")):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _message(error: dict[str, Any]) -> str:
    text = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown field (not part of the kpi.dev/v1alpha1 API; check the spelling)"
    if kind == "missing":
        return "required field is missing"
    if kind in ("literal_error",) and "input" in error:
        return f"{text}, got {error['input']!r}"
    return text


def problems_from_validation(error: ValidationError) -> list[Problem]:
    """Pydantic's errors as ``Problem`` s with the wire (camelCase) field path."""
    problems = []
    for item in error.errors():
        problems.append(Problem(_path(item.get("loc", ())), _message(item)))
    return problems


def parse_object(body: Any) -> tuple[Optional[Union[SLO, KPI]], list[Problem]]:
    """Validate one object's body; return the model or the problems (never raises on bad input)."""
    if not isinstance(body, dict):
        return None, [Problem("", f"expected a mapping (a Kubernetes object), got {type(body).__name__}")]
    api_version = body.get("apiVersion")
    kind = body.get("kind")
    problems = []
    if api_version != API_VERSION:
        problems.append(Problem("apiVersion", f"expected {API_VERSION}, got {api_version!r}"))
    if not isinstance(kind, str) or kind not in KINDS:
        problems.append(Problem("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}"))
    if problems:
        return None, problems
    try:
        return KINDS[kind].model_validate(body), []
    except ValidationError as error:
        return None, problems_from_validation(error)


def load_text(text: str, source: str) -> list[Document]:
    """Every document of a YAML stream, each validated; a YAML syntax error is one problem for the whole file."""
    try:
        bodies = list(yaml.load_all(text, Loader=_LOADER))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        doc = Document(source=source, index=1, body=None, problems=[Problem("", f"not valid YAML: {where}{problem}")])
        return [doc]
    documents = []
    index = 0
    for body in bodies:
        if body is None:
            continue
        index += 1
        obj, problems = parse_object(body)
        documents.append(Document(source=source, index=index, body=body, obj=obj, problems=problems))
    return documents
