"""Refuse an SLO whose alert tier can never fire: its rules would be accepted and stay silent forever.

A window pair fires when both its error ratios are above ``factor x (1 - objective)``; an error ratio is at most 1
(every event bad). When every pair of a tier has a threshold of 1 or more, the tier cannot fire, whatever
happens: e.g. objective 90 over 90d gives the page pairs thresholds of 4.32 and 1.8, so the page alert and the
canary gate never act. Such an SLO is refused with the field to change, as every other invalid spec is:
``generate_groups`` raises ``SchemaError``, which ``kpi-operator validate`` prints as ``file: document: field:
message`` and the operator reports as ``Stalled`` with an ``InvalidSpec`` Event.

A tier with only *some* pairs at or above 1 still fires through the others (a 90 % latency SLO over 30d pages on
its 6h pair, not its 1h pair) and is accepted.
"""

from __future__ import annotations

from ..api.models import SLO
from .compiled import TierWindows, compile_slo
from .sloth import SchemaError


def _number(value: float) -> str:
    return f"{value:.4g}"


def _silent_tier_error(slo: SLO, tier: TierWindows) -> SchemaError:
    spec = slo.spec
    compiled = compile_slo(slo)
    setting = f"spec.alerting.{tier.tier}Alert"
    own_windows = bool((spec.alerting.page_alert if tier.tier == "page" else spec.alerting.ticket_alert).windows)
    gated = tier.tier == "page" and spec.gate is not None
    silent = (
        ("the page alert and the gate" if not tier.disabled else "the gate")
        if gated
        else f"the {tier.tier} alert"
    )
    pairs = "; ".join(
        f"{pair.long}/{pair.short}: burn factor {_number(pair.factor)}, threshold {_number(compiled.threshold(pair))}"
        for pair in tier.pairs
    )
    fixes = ["raise the objective (a smaller error budget)", "shorten spec.window"]
    fixes.append(f"give {setting}.windows longer long windows or smaller budgetPercent")
    if not gated:
        fixes.append(f"turn the tier off ({setting}.disabled: true)")
    path = f"{setting}.windows" if own_windows else "spec.objective"
    message = (
        f"{'' if path == 'spec.objective' else 'objective '}{_number(spec.objective)} with window {spec.window} gives every {tier.tier}-tier window pair an error-ratio "
        f"threshold at or above 1 ({pairs}); a pair fires only on an error ratio above its threshold, and an error "
        f"ratio cannot exceed 1 (100 % errors), so {silent} can never fire. To fix: {', '.join(fixes[:-1])} or {fixes[-1]}."
    )
    return SchemaError(path, message)


def check_tiers_can_fire(slo: SLO) -> None:
    """Raise ``SchemaError`` naming the field when a tier that is on (or the page tier of a gated SLO) can never
    fire; the first such tier, page before ticket."""
    for tier in compile_slo(slo).silent_tiers(gated=slo.spec.gate is not None):
        raise _silent_tier_error(slo, tier)
