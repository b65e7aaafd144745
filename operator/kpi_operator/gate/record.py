"""What a gate did to a Deployment, kept on the Deployment itself and keyed to pod templates.

Why on the Deployment: the act and its record must be one write. ``status.gate`` is a second write to a second
object; it is lost when the process dies between the two, when the status write fails, when the response is
lost, or when the KPI/SLO is re-created from Git. The record travels in the act's own JSON Patch, so an act the
API server accepted is always recorded, and a refused one never is.

Why templates, not revision numbers: revision numbers belong to one Deployment's history and the controller
renumbers them (a rollback gives the restored template the highest number plus one), and two gates on one
Deployment each keep their own idea of them. A pod template is what actually runs: a template any gate acted
against is *refused*, whoever acted, and no gate restores it or acts on it again.

The record is three annotations:

- ``kpi.dev/gate-refused-templates``: the hashes (``template_hash``) of the templates gates acted against, oldest
  first, the last ``MAX_REFUSED`` kept.
- ``kpi.dev/gate-last-act``: JSON of the last act: who (``SLO/name``), what, against which template, which
  template it restored, and when, on Prometheus' clock (``at``, unix seconds): a restored template is judged
  only on data newer than that.
- ``kpi.dev/gate-acted-revision`` / ``kpi.dev/gate-action``: the same for people (``kubectl describe``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..api.timestamps import utc_timestamp
from .revisions import without_pod_template_hash

REFUSED_TEMPLATES_ANNOTATION = "kpi.dev/gate-refused-templates"
LAST_ACT_ANNOTATION = "kpi.dev/gate-last-act"
MAX_REFUSED = 20


def template_hash(template: Mapping[str, Any]) -> str:
    """A stable name for a pod template: the same for the Deployment's template and the ReplicaSet made from it
    (the controller's ``pod-template-hash`` label is dropped), different for any other change."""
    canonical = json.dumps(without_pod_template_hash(template), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def current_template_hash(deployment: Mapping[str, Any]) -> str:
    return template_hash((deployment.get("spec") or {}).get("template") or {})


@dataclass(frozen=True)
class LastAct:
    """``kpi.dev/gate-last-act``: the newest act on the Deployment, by any gate."""

    by: str
    action: str
    template: str
    restored: Optional[str]
    at: Optional[float]
    from_revision: Optional[str] = None
    to_revision: Optional[str] = None

    def as_last_action(self) -> dict[str, Any]:
        """``status.gate.lastAction`` rebuilt from the record, for a status that lost it (the object re-created,
        the status write after the act lost): what, against which revisions, when; the verdict is not kept."""
        return {
            "action": self.action,
            "fromRevision": self.from_revision,
            "toRevision": self.to_revision,
            "template": self.template,
            "restoredTemplate": self.restored,
            "time": utc_timestamp(self.at) if self.at is not None else None,
            "message": "Recovered from the Deployment's kpi.dev/gate-last-act annotation (the status had lost it).",
            "noop": False,
            "dryRun": False,
        }

    def to_json(self) -> str:
        return json.dumps(
            {
                "by": self.by,
                "action": self.action,
                "template": self.template,
                "restored": self.restored,
                "at": self.at,
                "fromRevision": self.from_revision,
                "toRevision": self.to_revision,
            },
            sort_keys=True,
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class ActRecord:
    """The Deployment's record as read: the refused templates and the last act (``None`` when it has none or it
    cannot be read: a hand-edited annotation never makes the gate act, it only loses the restore time)."""

    refused: tuple[str, ...] = ()
    last: Optional[LastAct] = None

    def restored_at(self, template: str) -> Optional[float]:
        """When ``template`` was restored by the last act (Prometheus' clock), if it was."""
        if self.last is not None and self.last.restored == template:
            return self.last.at
        return None

    def refused_by(self, template: str) -> Optional[str]:
        """Who acted against ``template`` when the last act did (``SLO/name``); ``""`` when an earlier act did."""
        if template not in self.refused:
            return None
        if self.last is not None and self.last.template == template:
            return self.last.by
        return ""

    def after(self, act: LastAct) -> "ActRecord":
        """The record once ``act`` is done: its template refused (once), it the last act."""
        refused = tuple(t for t in self.refused if t != act.template) + (act.template,)
        return ActRecord(refused=refused[-MAX_REFUSED:], last=act)

    def annotations(self) -> dict[str, str]:
        values = {REFUSED_TEMPLATES_ANNOTATION: ",".join(self.refused)}
        if self.last is not None:
            values[LAST_ACT_ANNOTATION] = self.last.to_json()
        return values


def _optional_str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def read_record(deployment: Mapping[str, Any]) -> ActRecord:
    annotations = ((deployment.get("metadata") or {}).get("annotations")) or {}
    refused = tuple(t for t in str(annotations.get(REFUSED_TEMPLATES_ANNOTATION, "")).split(",") if t)
    last = None
    try:
        data = json.loads(annotations[LAST_ACT_ANNOTATION])
        at = data.get("at")
        last = LastAct(
            by=str(data["by"]),
            action=str(data["action"]),
            template=str(data["template"]),
            restored=_optional_str(data.get("restored")),
            at=float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else None,
            from_revision=_optional_str(data.get("fromRevision")),
            to_revision=_optional_str(data.get("toRevision")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        last = None
    return ActRecord(refused=refused, last=last)
