"""Champion against challenger on the evaluation set, and the gate that decides between them.

Every figure comes with a percentile bootstrap interval (resampling evaluation alerts with
replacement, the same resamples for both models, so intervals are comparable): ROC-AUC, the
paper's metrics (`rbc1000.train.report.paper_metrics`), the expected calibration error (ECE:
10 equal-width bins of p_real, the mean |observed real share - mean p_real| weighted by bin
size) and the uncertain share (scores inside the model's low-confidence band, which the
service sends to human labelling). Per survey, the same point figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rbc1000.model.gate import GateRule
from rbc1000.train.report.paper_metrics import compute_metrics, jsonable

ECE_BINS = 10


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of scores `p` against labels `y` (1 = real) over `bins` equal-width bins."""
    if y.size == 0:
        return float("nan")
    edges = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        members = edges == b
        if members.any():
            total += members.sum() * abs(float(y[members].mean()) - float(p[members].mean()))
    return total / y.size


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return compute_metrics(y, p)["ROC_AUC"]


@dataclass(frozen=True)
class Scored:
    """One model's scores on the evaluation set and the band it would send to labelling."""

    p: np.ndarray
    band: tuple[float, float]


def _figures(y: np.ndarray, s: Scored) -> dict[str, Callable[[np.ndarray], float]]:
    low, high = s.band
    return {
        "ROC_AUC": lambda i: _auc(y[i], s.p[i]),
        "ECE": lambda i: expected_calibration_error(y[i], s.p[i]),
        "uncertain_share": lambda i: (
            float(np.mean((s.p[i] >= low) & (s.p[i] <= high))) if i.size else math.nan
        ),
    }


def _interval(values: list[float]) -> tuple[float | None, float | None]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None, None
    return float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))


def evaluate(y: np.ndarray, s: Scored, surveys: np.ndarray, resamples: list[np.ndarray]) -> dict[str, Any]:
    """Point figures with bootstrap intervals, the paper's metrics, and figures per survey."""
    everyone = np.arange(y.size)
    out: dict[str, Any] = {"n": int(y.size), "n_real": int(y.sum())}
    for name, fn in _figures(y, s).items():
        value = fn(everyone)
        low, high = _interval([fn(r) for r in resamples])
        out[name] = {"value": None if math.isnan(value) else value, "low": low, "high": high}
    out["paper"] = jsonable(compute_metrics(y, s.p))
    out["per_survey"] = {}
    for survey in sorted(set(surveys.tolist())):
        idx = np.flatnonzero(surveys == survey)
        figures = {name: fn(idx) for name, fn in _figures(y, s).items()}
        out["per_survey"][survey] = {"n": int(idx.size), **jsonable(figures)}
    return out


def resample_indices(n: int, count: int, seed: int) -> list[np.ndarray]:
    """`count` bootstrap resamples of n positions, seeded (shared by both models)."""
    rng = np.random.default_rng([seed, n])
    return [rng.integers(0, n, n) for _ in range(count)]


def decide(
    challenger: dict[str, Any], champion: dict[str, Any] | None, rule: GateRule
) -> tuple[bool, list[str]]:
    """Whether the challenger passes `rule` against the champion, and why (one line per check)."""
    auc = challenger[rule.primary]["value"]
    ece = challenger[rule.calibration]["value"]
    if auc is None or ece is None:
        return False, [f"challenger {rule.primary} or {rule.calibration} is undefined on the evaluation set"]
    if champion is None:
        low = challenger[rule.primary]["low"]
        ok = bool(low is not None and low > rule.floor)
        return ok, [
            f"no champion: challenger {rule.primary} lower bound {low} must exceed {rule.floor}: "
            + ("passed" if ok else "failed")
        ]
    reasons, passed = [], True
    best = champion[rule.primary]["value"]
    if best is not None:
        ok = bool(auc >= best - rule.tolerance)
        passed &= ok
        reasons.append(
            f"{rule.primary} {auc:.4f} vs champion {best:.4f} (tolerance {rule.tolerance}): "
            + ("passed" if ok else "failed")
        )
    calibrated = champion[rule.calibration]["value"]
    if calibrated is not None:
        ok = bool(ece <= calibrated + rule.ece_tolerance)
        passed &= ok
        reasons.append(
            f"{rule.calibration} {ece:.4f} vs champion {calibrated:.4f} (tolerance {rule.ece_tolerance}): "
            + ("passed" if ok else "failed")
        )
    return bool(passed), reasons
