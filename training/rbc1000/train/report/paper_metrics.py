"""The paper's real/bogus metrics (real = positive, threshold 0.5) plus two standard ranking scores.

Pre, Acc, Rec, F1 and MCC come from scikit-learn. "AP" is the RB-C1000 paper's own average
precision, computed exactly as its reference code does: among the samples *predicted* real,
sorted by score from high to low, the mean of the precision at each truly real position. It
ignores real samples predicted bogus, so it differs from the standard average precision, which
is reported beside it as `std_AP` together with `ROC_AUC`. "Sum" is the six paper metrics added
together in percent (at most 600). Nothing here raises on one-class input: undefined ratios are
0 (as in the reference), undefined ranking scores are NaN.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn import metrics as skm

PAPER_METRICS: tuple[str, ...] = ("Pre", "Acc", "Rec", "F1", "MCC", "AP")
ALL_METRICS: tuple[str, ...] = (*PAPER_METRICS, "Sum", "std_AP", "ROC_AUC")


def paper_ap(y_true: np.ndarray, p_real: np.ndarray, threshold: float = 0.5) -> float:
    """The reference code's AP for the real class (see the module docstring).

    The reference scores a sample by its top-class probability, which for a sample predicted
    real (p_real > threshold >= 0.5) is p_real itself.
    """
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(p_real, dtype=np.float64)
    predicted_real = p > threshold
    hits = y[predicted_real] == 1
    scores = np.maximum(p, 1.0 - p)[predicted_real]
    if hits.size == 0 or not hits.any():
        return 0.0
    # Same ordering expression as the reference, so ties resolve identically.
    ordered = hits[scores.argsort()[::-1]]
    precision_at_rank = np.cumsum(ordered) / np.arange(1, ordered.size + 1)
    return float(precision_at_rank[ordered].mean())


def _safe(fn_value: float) -> float:
    return float(fn_value) if math.isfinite(fn_value) else float("nan")


def compute_metrics(y_true: np.ndarray, p_real: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """All metrics of ALL_METRICS for labels `y_true` (1 = real) and scores `p_real`."""
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(p_real, dtype=np.float64)
    if y.size == 0:
        zero = dict.fromkeys(PAPER_METRICS, 0.0)
        return {**zero, "Sum": 0.0, "std_AP": float("nan"), "ROC_AUC": float("nan")}
    pred = (p > threshold).astype(np.int64)
    out = {
        "Pre": float(skm.precision_score(y, pred, zero_division=0)),
        "Acc": float(skm.accuracy_score(y, pred)),
        "Rec": float(skm.recall_score(y, pred, zero_division=0)),
        "F1": float(skm.f1_score(y, pred, zero_division=0)),
        "MCC": float(skm.matthews_corrcoef(y, pred)),
        "AP": paper_ap(y, p, threshold),
    }
    out["Sum"] = 100.0 * sum(out[k] for k in PAPER_METRICS)
    both_classes = 0 < y.sum() < y.size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["std_AP"] = _safe(skm.average_precision_score(y, p)) if y.sum() > 0 else float("nan")
        out["ROC_AUC"] = _safe(skm.roc_auc_score(y, p)) if both_classes else float("nan")
    return out


def confusion(y_true: np.ndarray, p_real: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """2 x 2 confusion matrix [[TN, FP], [FN, TP]], always 2 x 2 even for one-class input."""
    pred = (np.asarray(p_real) > threshold).astype(np.int64)
    matrix: np.ndarray = skm.confusion_matrix(np.asarray(y_true).astype(np.int64), pred, labels=[0, 1])
    return matrix


def jsonable(values: dict[str, float]) -> dict[str, float | None]:
    """The metrics with NaN replaced by None, so they serialise as strict JSON."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


def family_recall(
    y_true: np.ndarray, p_real: np.ndarray, family: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Per family, the share of its samples classified as their own class at `threshold`.

    For a real family that is its recall; for a bogus family the share rejected (the recall of
    the bogus class). Families are keyed `<real|bogus>:<family>`; unnamed ones are skipped.
    """
    y = np.asarray(y_true)
    right = (np.asarray(p_real) >= threshold).astype(np.int64) == y
    out: dict[str, float] = {}
    for name in sorted({str(f) for f in np.asarray(family)}):
        if not name:
            continue
        for cls, word in ((1, "real"), (0, "bogus")):
            members = (np.asarray(family).astype(str) == name) & (y == cls)
            if members.any():
                out[f"{word}:{name}"] = round(float(right[members].mean()), 4)
    return out
