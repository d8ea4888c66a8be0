"""Choosing the K unlabelled samples that go to the experts (the ALS stage's new labels).

Every one of the K expert labels is used: the ALS stage and every later one train on all of
them, and a class imbalance among them is weighted in the loss (`class_weighting`), never cut.

For two classes all three measures rank samples identically (each is monotonic in
|p_real - 0.5|); they differ only for more classes, and are kept so a run states its choice.
"""

from __future__ import annotations

import numpy as np

MEASURES: tuple[str, ...] = ("least_confidence", "margin", "entropy")


def uncertainty(p_real: np.ndarray, measure: str = "least_confidence") -> np.ndarray:
    """Per-sample uncertainty, higher = less certain, for the binary scores `p_real`."""
    p = np.clip(np.asarray(p_real, dtype=np.float64), 0.0, 1.0)
    top = np.maximum(p, 1.0 - p)
    if measure == "least_confidence":
        return 1.0 - top
    if measure == "margin":
        return -(top - (1.0 - top))
    if measure == "entropy":
        q = np.clip(np.stack([p, 1.0 - p]), 1e-12, 1.0)
        entropy: np.ndarray = -(q * np.log(q)).sum(axis=0)
        return entropy
    raise ValueError(f"unknown selection measure {measure!r}; choose one of {MEASURES}")


def select_uncertain(p_real: np.ndarray, k: int, measure: str = "least_confidence") -> np.ndarray:
    """Positions of exactly min(k, N) most uncertain samples, most uncertain first.

    Ties keep pool order (stable sort), so the choice is deterministic.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    order = np.argsort(-uncertainty(p_real, measure), kind="stable")
    return order[: min(k, order.size)]
