"""The paper's metrics against hand-computed values and the reference code's AP loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rbc1000.train.report.paper_metrics import compute_metrics, confusion, jsonable, paper_ap

Y = np.array([1, 1, 1, 0, 0, 0, 1, 0])
P = np.array([0.9, 0.8, 0.4, 0.7, 0.2, 0.1, 0.6, 0.55])
# Threshold 0.5: TP = 3 (0, 1, 6), FP = 2 (3, 7), FN = 1 (2), TN = 2 (4, 5).
EXPECTED = {
    "Pre": 3 / 5,
    "Acc": 5 / 8,
    "Rec": 3 / 4,
    "F1": 2 * 0.6 * 0.75 / 1.35,
    "MCC": (3 * 2 - 2 * 1) / math.sqrt(5 * 4 * 4 * 3),
    # Predicted real, by score: T T F T F -> precision 1/1, 2/2, 3/4 at the true ones.
    "AP": (1 + 1 + 0.75) / 3,
    # All samples by score: T T F T F T F F -> precision 1, 1, 3/4, 4/6 at the four reals.
    "std_AP": (1 + 1 + 0.75 + 4 / 6) / 4,
    "ROC_AUC": 13 / 16,
}


def reference_ap(labels: np.ndarray, p_real: np.ndarray) -> float:
    """The reference code's AP for the real class, transcribed loop for loop."""
    preds = (p_real > 0.5).astype(int)
    scores = np.maximum(p_real, 1 - p_real)
    align_res, score = labels[preds == 1] == 1, scores[preds == 1]
    if align_res.tolist() in ([], [False]):
        return 0.0
    if align_res.tolist() == [True]:
        return 1.0
    sorted_res = align_res[score.argsort()[::-1]]
    return float(np.stack([sorted_res[: i + 1].mean() for i in np.where(sorted_res)[0]]).mean())


def test_each_metric_equals_the_hand_computed_value() -> None:
    got = compute_metrics(Y, P)
    for name, value in EXPECTED.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_sum_is_the_six_paper_metrics_in_percent() -> None:
    got = compute_metrics(Y, P)
    six = sum(EXPECTED[k] for k in ("Pre", "Acc", "Rec", "F1", "MCC", "AP"))
    assert got["Sum"] == pytest.approx(100 * six, abs=1e-9)
    assert got["Sum"] == pytest.approx(381.6533, abs=1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_paper_ap_matches_the_reference_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.5 * y + rng.uniform(0, 0.6, 200), 0, 1)
    assert paper_ap(y, p) == pytest.approx(reference_ap(y, p), abs=1e-12)


def test_paper_ap_special_cases() -> None:
    assert paper_ap(np.array([1, 0]), np.array([0.1, 0.2])) == 0.0  # nothing predicted real
    assert paper_ap(np.array([0]), np.array([0.9])) == 0.0  # one wrong real prediction
    assert paper_ap(np.array([1]), np.array([0.9])) == 1.0
    assert paper_ap(np.array([0, 0]), np.array([0.9, 0.8])) == 0.0  # no hit among several


def test_one_class_input_does_not_crash() -> None:
    bogus_only = compute_metrics(np.zeros(5, int), np.linspace(0.1, 0.9, 5))
    assert bogus_only["Pre"] == 0.0 and bogus_only["Rec"] == 0.0 and bogus_only["MCC"] == 0.0
    assert math.isnan(bogus_only["ROC_AUC"]) and math.isnan(bogus_only["std_AP"])
    real_only = compute_metrics(np.ones(4, int), np.array([0.9, 0.8, 0.7, 0.2]))
    assert real_only["Acc"] == pytest.approx(0.75)
    assert math.isnan(real_only["ROC_AUC"])
    assert jsonable(real_only)["ROC_AUC"] is None
    empty = compute_metrics(np.zeros(0, int), np.zeros(0))
    assert empty["Sum"] == 0.0


def test_confusion_is_always_two_by_two() -> None:
    assert confusion(Y, P).tolist() == [[2, 2], [1, 3]]
    assert confusion(np.zeros(3, int), np.zeros(3)).tolist() == [[3, 0], [0, 0]]
