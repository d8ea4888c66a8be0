"""Masked pixels in simulated stamps: one distribution for both classes, and the check that says so.

Real ZTF stamps carry masked pixels (NaN, or about -3.4e38 in some reference stamps) where a
CCD edge cuts the stamp, where a bright star or a bad region was masked, or where only the
reference is masked. About 14% of real alerts carry some. If the simulator masked bogus
stamps more often, or nearer the centre, than real ones, a network would learn "masked means
bogus" and lose real alerts that happen to be masked. So masks are drawn here, after the
family is painted, from one distribution that never looks at the label, in all three stamps.

`mask_features` and `mask_feature_auc` measure what a classifier that sees only the masks
(masked fraction per stamp, distance of the mask to the centre, which stamps are masked)
can tell about the label; the dataset card reports it and it must stay near 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rbc1000.model.preprocessing import SENTINEL_ABS, STAMP_SIZE
from rbc1000.train.data.simulate_families import CENTRE, edge_mask

_YY, _XX = np.mgrid[0:STAMP_SIZE, 0:STAMP_SIZE].astype(np.float32)
SENTINEL = float(np.finfo(np.float32).min)  # what some ZTF reference stamps write for "masked"
MASK_AUC_LIMIT = 0.55


@dataclass(frozen=True)
class MaskConfig:
    """How often and how stamps are masked; the same for real and bogus samples."""

    rate: float = 0.10  # drawn masks; with the masks already in the backgrounds, about 18% of samples
    edge_share: float = 0.35  # of masked samples: a CCD edge cuts all three stamps
    sentinel_share: float = 0.15  # of region masks: the reference marks them with SENTINEL


def apply_mask(
    stamps: tuple[np.ndarray, np.ndarray, np.ndarray], rng: np.random.Generator, config: MaskConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stamps, maybe masked by a CCD edge or a region; draws do not depend on the label."""
    sci, ref, diff = (s.copy() for s in stamps)
    if rng.random() >= config.rate:
        return sci, ref, diff
    if rng.random() < config.edge_share:
        off_chip, _ = edge_mask(rng, 2.0, 30.0)
        for stamp in (sci, ref, diff):
            stamp[off_chip] = np.nan
        return sci, ref, diff
    cy, cx = CENTRE + rng.uniform(-26, 26, size=2)
    if rng.random() < 0.5:
        region = (_YY - cy) ** 2 + (_XX - cx) ** 2 < rng.uniform(2, 12) ** 2
    else:
        region = (np.abs(_YY - cy) < rng.uniform(1, 10)) & (np.abs(_XX - cx) < rng.uniform(1, 10))
    which = rng.choice(3, p=[0.4, 0.3, 0.3])  # all three, science + difference, reference only
    if which in (0, 1):
        sci[region] = np.nan
        diff[region] = np.nan
    if which in (0, 2):
        ref[region] = SENTINEL if rng.random() < config.sentinel_share else np.nan
    return sci, ref, diff


def masked(stamp: np.ndarray) -> np.ndarray:
    """Boolean mask of a raw stamp as rbc-pp-2 sees it: non-finite or |value| >= 1e30."""
    with np.errstate(invalid="ignore"):
        out: np.ndarray = ~np.isfinite(stamp) | (np.abs(stamp) >= SENTINEL_ABS)
    return out


def mask_features(stamps: np.ndarray) -> np.ndarray:
    """Per sample [N, 7]: masked fraction of each stamp, which stamps are masked (0/1), and the
    distance of the nearest masked pixel to the centre (63 when none). `stamps` is [N, 63, 63, 3]."""
    m = masked(stamps)
    fraction = m.mean(axis=(1, 2))
    any_masked = m.any(axis=(1, 2)).astype(np.float64)
    radius = np.hypot(_YY - CENTRE, _XX - CENTRE)
    nearest = np.where(m.any(axis=3), radius[None], np.float32(STAMP_SIZE)).min(axis=(1, 2))
    return np.column_stack([fraction, any_masked, nearest])


def mask_feature_auc(stamps: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """Cross-validated ROC-AUC of a small boosted-tree classifier on `mask_features` alone."""
    return feature_auc(mask_features(stamps), labels, seed)


def feature_auc(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """Cross-validated (5 folds) ROC-AUC of a small boosted-tree classifier on `features`."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x, y = np.asarray(features), np.asarray(labels)
    model = HistGradientBoostingClassifier(max_depth=3, max_iter=50, random_state=seed)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    p = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))
