"""Pseudo-labels for the SSLS stages: confident teacher predictions, class-balanced."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Keeps int() from truncating 6.9999999 to 6 in the class-ratio arithmetic.
_EPS = 1e-9


@dataclass(frozen=True)
class PseudoLabels:
    """Positions into the scored pool and the label the teacher gave each."""

    index: np.ndarray
    labels: np.ndarray
    n_confident: int

    def __len__(self) -> int:
        return int(self.index.size)


def pseudo_label(p_real: np.ndarray, threshold: float, real_fraction: float) -> PseudoLabels:
    """Keep samples whose top-class probability is >= `threshold`, balanced to `real_fraction`.

    The larger class (relative to `real_fraction`, the real share of the labelled set) is cut
    to its most confident members, as in the reference code; the smaller class is kept whole.
    Returned positions are sorted ascending.
    """
    p = np.asarray(p_real, dtype=np.float64)
    confidence = np.maximum(p, 1.0 - p)
    confident = np.flatnonzero(confidence >= threshold)
    pred = (p[confident] > 0.5).astype(np.int64)
    real, bogus = confident[pred == 1], confident[pred == 0]
    real = real[np.argsort(-confidence[real], kind="stable")]
    bogus = bogus[np.argsort(-confidence[bogus], kind="stable")]
    if real_fraction <= 0.0:
        real = real[:0]
    elif real_fraction >= 1.0:
        bogus = bogus[:0]
    else:
        want_real = int(bogus.size * real_fraction / (1.0 - real_fraction) + _EPS)
        if real.size >= want_real:
            real = real[:want_real]
        else:
            bogus = bogus[: int(real.size / real_fraction - real.size + _EPS)]
    index = np.sort(np.concatenate([real, bogus]))
    labels = (p[index] > 0.5).astype(np.int64)
    return PseudoLabels(index=index, labels=labels, n_confident=int(confident.size))
