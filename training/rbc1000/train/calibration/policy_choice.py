"""A survey's threshold, labelling band and evaluation, by a rule stated before any figure.

The rule works on calibrated probabilities, so it needs no data of its own beyond the
calibration half the calibration was fitted on: an alert is real when its calibrated p_real
is at least `threshold` (default 0.5: more likely real than bogus), and goes to labelling when
its calibrated p_real lies in `band` (default [0.2, 0.8]: neither call is 80% sure). The band
straddles the threshold by construction. Every figure is then measured on the evaluation
half, which neither the calibration nor the rule saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rbc1000.model.policy import SurveyEvaluation, SurveyPolicy
from rbc1000.train.calibration.holdout import SurveyAlerts, fingerprint
from rbc1000.train.calibration.temperature import expected_calibration_error, reliability
from rbc1000.train.report.real_alerts import bootstrap_aucs, real_alert_summary


@dataclass(frozen=True)
class PolicyRule:
    """The stated rule (see module) and how the evaluation is summarised."""

    threshold: float = 0.5
    band: tuple[float, float] = (0.2, 0.8)
    histogram_bins: int = 20
    bootstrap: int = 2000
    seed: int = 0

    def describe(self) -> str:
        low, high = self.band
        return (
            f"threshold: calibrated p_real >= {self.threshold} is real; band: calibrated p_real in "
            f"[{low}, {high}] goes to labelling (calibration fitted on the calibration half)"
        )


@dataclass(frozen=True)
class Halves:
    """Positions of the calibration and evaluation halves, and scores before/after calibration."""

    cal: np.ndarray
    ev: np.ndarray
    p_raw: np.ndarray
    p_cal: np.ndarray


def survey_policy(alerts: SurveyAlerts, h: Halves, rule: PolicyRule) -> tuple[SurveyPolicy, dict[str, Any]]:
    """The survey's policy and the full evaluation report (issue 12's table on the evaluation half)."""
    y, p = alerts.y[h.ev], h.p_cal[h.ev]
    low, high = rule.band
    aucs = bootstrap_aucs(y, {"model": p.astype(np.float64)}, rule.bootstrap, rule.seed)["model"]
    in_band = (p >= low) & (p <= high)
    decided_real = (p >= rule.threshold) & ~in_band
    metrics = {
        "n_real": float(y.sum()),
        "n_bogus": float(y.size - y.sum()),
        "ROC_AUC": aucs["roc_auc"],
        "ROC_AUC_low": aucs["low"],
        "ROC_AUC_high": aucs["high"],
        "ECE_before": expected_calibration_error(y, h.p_raw[h.ev]),
        "ECE_after": expected_calibration_error(y, p),
        "nonfinite": float((~np.isfinite(p)).sum()),
        "band_share": float(in_band.mean()),
        "band_share_calibration_half": float(_in(h.p_cal[h.cal], rule.band).mean()),
        "real_lost_at_threshold": float(((p < rule.threshold) & (y == 1)).sum()),
        "bogus_passed_at_threshold": float(((p >= rule.threshold) & (y == 0)).sum()),
        "bogus_decided_real": float((decided_real & (y == 0)).sum()),
        "real_decided_bogus": float(((p < rule.threshold) & ~in_band & (y == 1)).sum()),
    }
    metrics = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    counts, edges = np.histogram(p[np.isfinite(p)], bins=np.linspace(0.0, 1.0, rule.histogram_bins + 1))
    evaluation = SurveyEvaluation(
        set_name=f"{alerts.set_name}; evaluation half by object",
        fingerprint=fingerprint(alerts.ids[h.ev]),
        n=int(h.ev.size),
        labels=alerts.labels,
        metrics=metrics,
    )
    policy = SurveyPolicy(
        threshold=rule.threshold,
        band=(low, high),
        evaluation=evaluation,
        reference_edges=tuple(float(e) for e in edges),
        reference_counts=tuple(int(c) for c in counts),
    )
    policy.check(alerts.survey)
    report = {
        "survey": alerts.survey,
        "rule": rule.describe(),
        "calibration_half": {
            "n": int(h.cal.size),
            "n_real": int(alerts.y[h.cal].sum()),
            "fingerprint": fingerprint(alerts.ids[h.cal]),
        },
        "evaluation_half": {
            "n": int(h.ev.size),
            "n_real": int(y.sum()),
            "fingerprint": evaluation.fingerprint,
        },
        "metrics": metrics,
        "reliability_before": reliability(y, h.p_raw[h.ev]),
        "reliability_after": reliability(y, p),
        "real_alerts": _table(alerts, h, rule),
    }
    return policy, report


def _in(p: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    return np.asarray((p >= band[0]) & (p <= band[1]))


def _table(alerts: SurveyAlerts, h: Halves, rule: PolicyRule) -> dict[str, Any] | None:
    """Model beside the survey's own scores on the evaluation half, mask loss rates at the threshold."""
    ids = alerts.ids[h.ev]
    if not any(i in alerts.facts for i in ids.tolist()):
        return None
    return real_alert_summary(
        ids, alerts.y[h.ev], h.p_cal[h.ev], alerts.facts, rule.threshold, rule.bootstrap
    )
