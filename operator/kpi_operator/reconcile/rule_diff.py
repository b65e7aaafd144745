"""Whether a live PrometheusRule still says what the operator generated, in the parts the operator owns.

Other controllers and people may add annotations the operator does not set; only a difference in the spec, the
labels or the owner reference makes it write the rule again, so a re-run
changes nothing and a hand edit of the rules is put back.
"""

from __future__ import annotations

from typing import Any


def rule_differs(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    """Whether the live PrometheusRule differs from the desired one in what the operator owns."""
    if current.get("spec") != desired.get("spec"):
        return True
    current_labels = current.get("metadata", {}).get("labels") or {}
    if current_labels != (desired["metadata"].get("labels") or {}):
        return True
    owners = desired["metadata"].get("ownerReferences")
    return bool(owners) and current.get("metadata", {}).get("ownerReferences") != owners
