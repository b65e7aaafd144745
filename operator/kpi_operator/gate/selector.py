"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``) evaluated against a label map.

The semantics are the API server's: every term must hold; ``NotIn`` and ``DoesNotExist`` hold for an absent
label; an empty selector matches everything and a missing (``None``) selector matches nothing.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from ..api.models import LabelSelector


def _as_dict(selector: Union[LabelSelector, Mapping[str, Any]]) -> Mapping[str, Any]:
    if isinstance(selector, LabelSelector):
        return selector.model_dump(by_alias=True)
    return selector


def matches_selector(labels: Optional[Mapping[str, str]], selector: Union[LabelSelector, Mapping[str, Any], None]) -> bool:
    """Whether an object with ``labels`` is selected; ``selector`` is a ``LabelSelector`` or its wire dict."""
    if selector is None:
        return False
    spec = _as_dict(selector)
    labels = labels or {}
    for key, value in (spec.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in spec.get("matchExpressions") or ():
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or ()
        if operator == "In":
            if key not in labels or labels[key] not in values:
                return False
        elif operator == "NotIn":
            if key in labels and labels[key] in values:
                return False
        elif operator == "Exists":
            if key not in labels:
                return False
        elif operator == "DoesNotExist":
            if key in labels:
                return False
        else:
            raise ValueError(f"unknown label selector operator {operator!r}: use In, NotIn, Exists or DoesNotExist")
    return True
