"""Choosing the K unlabelled samples that go to the experts (the ALS stage's new labels).

For two classes all three measures rank samples identically (each is monotonic in
|p_real - 0.5|); they differ only for more classes, and are kept so a run states its choice.
"""

from __future__ import annotations

import numpy as np

# Keeps int() from truncating 6.9999999 to 6 in the class-ratio arithmetic.
_EPS = 1e-9

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


def rebalance(chosen: np.ndarray, labels: np.ndarray, real_fraction: float) -> np.ndarray:
    """Drop the excess of the over-represented class so `chosen` matches `real_fraction`.

    As in the paper, the experts label all K; only the class surplus is left out of training.
    `labels` are the expert labels of `chosen` (same order); earlier (more uncertain) samples
    of the larger class are kept. Returns the kept subset of `chosen`, in its order.
    """
    chosen = np.asarray(chosen)
    labels = np.asarray(labels)
    real, bogus = chosen[labels == 1], chosen[labels == 0]
    if not 0.0 < real_fraction < 1.0:
        keep = real if real_fraction >= 1.0 else bogus
        return chosen[np.isin(chosen, keep)]
    want_real = int(bogus.size * real_fraction / (1.0 - real_fraction) + _EPS)
    want_bogus = int(real.size / real_fraction - real.size + _EPS)
    if real.size > want_real:
        keep = np.concatenate([real[:want_real], bogus])
    elif bogus.size > want_bogus:
        keep = np.concatenate([real, bogus[:want_bogus]])
    else:
        keep = chosen
    return chosen[np.isin(chosen, keep)]
