"""The gate at export: a model whose ranking is no better than chance on a survey never ships.

For every declared survey the ROC-AUC's bootstrap 95% lower bound on the evaluation half
must exceed `GateRule.floor` (0.5). A model that declares no survey has no evaluation on real
alerts and fails. The record is the service's `GateRecord`, so the service checks export and
retraining gates alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rbc1000.model.gate import GateRecord, GateRule
from rbc1000.model.registry import now_iso
from rbc1000.train.calibration.holdout import fingerprint


def export_gate(
    reports: dict[str, dict[str, Any]], eval_ids: dict[str, np.ndarray], extra: dict[str, Any]
) -> GateRecord:
    """The gate decision on the per-survey evaluation `reports` of `policy_choice.survey_policy`."""
    rule = GateRule()
    reasons: list[str] = []
    per_survey: dict[str, Any] = {}
    for survey, report in reports.items():
        m = report["metrics"]
        low = m.get("ROC_AUC_low")
        ok = low is not None and low > rule.floor
        reasons.append(
            f"{survey}: {rule.primary} {m.get('ROC_AUC', float('nan')):.4f}, bootstrap 95% lower bound "
            f"{float('nan') if low is None else low:.4f} must exceed {rule.floor} on the evaluation half "
            f"({report['evaluation_half']['n']} alerts): " + ("passed" if ok else "failed")
        )
        per_survey[survey] = {
            "ok": ok,
            rule.primary: {"value": m.get("ROC_AUC"), "low": low, "high": m.get("ROC_AUC_high")},
            rule.calibration: {"value": m.get("ECE_after"), "before": m.get("ECE_before")},
            "n": report["evaluation_half"]["n"],
            "n_real": report["evaluation_half"]["n_real"],
        }
    if not reports:
        reasons.append("no survey declared: no evaluation on real alerts, so no gate can pass")
    worst = min(per_survey.values(), key=lambda r: r[rule.primary]["low"] or 0.0, default=None)
    everyone = np.concatenate(list(eval_ids.values())) if eval_ids else np.array([], dtype=str)
    challenger: dict[str, Any] = {"per_survey": per_survey}
    if worst is not None:
        challenger.update({rule.primary: worst[rule.primary], rule.calibration: worst[rule.calibration]})
    return GateRecord(
        passed=bool(per_survey) and all(r["ok"] for r in per_survey.values()),
        rule=rule,
        reasons=reasons,
        evaluation_fingerprint=fingerprint(everyone),
        evaluation_size=int(everyone.size),
        evaluation_per_survey={s: int(ids.size) for s, ids in eval_ids.items()},
        challenger=challenger,
        champion=None,
        parent=None,
        decided_at=now_iso(),
        extra={"stage": "export", **extra},
    )
