"""The canary: a small labelled set of real ZTF alerts the service scores before a model serves.

`assets/canary/canary.avro` holds 32 real ZTF alerts (16 drb-real, 16 drb-bogus) with their
three cutouts as the survey shipped them. The labels are ZTF's own `drb` score thresholded
(>= 0.9 real, <= 0.1 bogus): PROXY labels, not human ones (`assets/canary/PROVENANCE.md`).

`run_canary(scorer)` preprocesses them with the model's own preprocessing version, scores
them in one call and returns the ROC-AUC against the proxy labels and the share the model's
ZTF policy calls uncertain. The alerts are ZTF stamps, so a model that does not declare ZTF
gets no canary result (None): the set says nothing about how it judges other surveys.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import fastavro
import numpy as np

from rbc1000.alerts.alert import Cutouts
from rbc1000.assets import canary_path
from rbc1000.model.policy import SurveyPolicy
from rbc1000.model.preprocessing import triplet_from_cutouts
from rbc1000.model.scoring import Scorer

CANARY_SURVEY = "ztf"


@dataclass(frozen=True, slots=True)
class CanarySet:
    """The canary alerts: ids, proxy labels (1 real, 0 bogus) and cutouts, in file order."""

    ids: tuple[int, ...]
    labels: np.ndarray
    cutouts: tuple[Cutouts, ...]


@dataclass(frozen=True, slots=True)
class CanaryResult:
    """How one model did on the canary set."""

    n: int
    roc_auc: float
    uncertain_share: float

    def line(self) -> str:
        auc, share = f"{self.roc_auc:.4f}", f"{self.uncertain_share:.4f}"
        return f"canary_n={self.n} canary_roc_auc={auc} canary_uncertain={share}"


@cache
def canary_set(path: Path | None = None) -> CanarySet:
    """The shipped canary set (read once)."""
    with (path or canary_path()).open("rb") as fo:
        records = [dict(r) for r in fastavro.reader(fo) if isinstance(r, dict)]
    return CanarySet(
        ids=tuple(int(r["candid"]) for r in records),
        labels=np.array([int(r["label"]) for r in records], dtype=np.int64),
        cutouts=tuple(Cutouts(r["science"], r["template"], r["difference"]) for r in records),
    )


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC by the rank-sum (Mann-Whitney) formula, ties counted half."""
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs both classes")
    greater = (scores[positive][:, None] > scores[~positive][None, :]).sum()
    ties = (scores[positive][:, None] == scores[~positive][None, :]).sum()
    return float((greater + 0.5 * ties) / (n_pos * n_neg))


def uncertain_share(scores: np.ndarray, policy: SurveyPolicy) -> float:
    """The share of scores inside the policy's band (both ends included, none when empty)."""
    low, high = policy.band
    if not low < high:
        return 0.0
    return float(np.mean((scores >= low) & (scores <= high)))


def run_canary(scorer: Scorer, canary: CanarySet | None = None) -> CanaryResult | None:
    """Score the canary with `scorer`; None when the model does not declare ZTF."""
    policy = scorer.info.serving_policy().for_survey(CANARY_SURVEY)
    if policy is None:
        return None
    canary = canary or canary_set()
    version = scorer.info.preprocessing_version
    triplets = np.stack([triplet_from_cutouts(c, version) for c in canary.cutouts])
    scores = scorer.score(triplets).astype(np.float64)
    if not np.all(np.isfinite(scores)):
        return CanaryResult(len(scores), float("nan"), float("nan"))
    return CanaryResult(len(scores), roc_auc(canary.labels, scores), uncertain_share(scores, policy))
