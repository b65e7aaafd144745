"""Whether a Deployment lets a gate act on it: the Deployment's own opt-in, so the operator is nobody's deputy.

The operator may patch Deployments; whoever may create a KPI or SLO in a namespace may not. Without a check of
its own, a KPI with ``selector: {matchExpressions: [{key: app, operator: Exists}]}``, the query ``vector(0)`` and
``failureLimit: 1`` would scale every Deployment of the namespace to zero in one cycle, another team's included.
So a selector only proposes targets; a Deployment is acted on (or dry-run) only when it names the gate in its
``kpi.dev/gated-by`` annotation, written by whoever owns the Deployment:

- ``SLO/<name>`` or ``KPI/<name>``: that object, in the Deployment's own namespace (gates only select there).
  The kind is case-insensitive, the name exact (Kubernetes names are lowercase).
- ``*``: any KPI or SLO of the namespace.
- several entries, comma-separated: ``SLO/checkout-availability, KPI/checkout-conversion``.

Anything else (an empty value, ``SLO/*``, a namespace-qualified ``shop/SLO/x``) names no gate.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

GATED_BY_ANNOTATION = "kpi.dev/gated-by"
ANY_GATE = "*"

#: How many skipped Deployments a message names before it says "and N more".
NAMED_IN_MESSAGE = 10


def named_gates(deployment: Mapping[str, Any]) -> tuple[str, ...]:
    """The entries of the Deployment's ``kpi.dev/gated-by`` annotation, stripped, empty ones dropped."""
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(GATED_BY_ANNOTATION)
    if not isinstance(value, str):
        return ()
    return tuple(entry.strip() for entry in value.split(",") if entry.strip())


def _names(entry: str, kind: str, name: str) -> bool:
    if entry == ANY_GATE:
        return True
    entry_kind, slash, entry_name = entry.partition("/")
    return bool(slash and name) and entry_kind.strip().casefold() == kind.casefold() and entry_name.strip() == name


def allows(deployment: Mapping[str, Any], kind: str, name: str) -> bool:
    """Whether the Deployment's ``kpi.dev/gated-by`` lets the ``kind`` (``SLO`` / ``KPI``) named ``name`` act on it."""
    return any(_names(entry, kind, name) for entry in named_gates(deployment))


def not_allowed_message(skipped: Sequence[str], gate: str) -> str:
    """What ``status.gate.message`` and the ``GateNotAllowed`` Event say about the Deployments the selector matched
    that did not opt in for ``gate`` (``SLO/name``): which ones, and the annotation that would let it act on them."""
    names = sorted(skipped)
    shown = ", ".join(names[:NAMED_IN_MESSAGE]) + (f" and {len(names) - NAMED_IN_MESSAGE} more" if len(names) > NAMED_IN_MESSAGE else "")
    if len(names) == 1:
        subject = f"Deployment {shown} matches spec.gate.selector but does not name this gate in its {GATED_BY_ANNOTATION} annotation"
        it, where = "it", "the Deployment"
    else:
        subject = f"Deployments {shown} match spec.gate.selector but do not name this gate in their {GATED_BY_ANNOTATION} annotation"
        it, where = "them", "each Deployment it should protect"
    return (
        f"{subject}; the gate never acts on {it} (not even a dry run). To let it, add `{GATED_BY_ANNOTATION}: {gate}` "
        f"to {where} (or append {gate} to the comma-separated list already there)."
    )
