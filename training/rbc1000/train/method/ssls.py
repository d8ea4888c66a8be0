"""One SSLS round's training set: the labelled part plus the teacher's pseudo-labels.

The unlabelled pool is the run's simulated pool (what the K did not take) plus, when the
run names `unlabelled_alerts`, real alerts read without their labels. The teacher scores
both; `rbc1000.train.method.pseudo_label.pseudo_label` keeps the confident ones, balanced to
the labelled class ratio. A round that keeps none would silently retrain the ALS set, so it
stops the run (`EmptyRoundError`) unless the run says to skip such rounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.loaders.unlabelled import UnlabelledAlerts
from rbc1000.train.method.config import RunConfig
from rbc1000.train.method.pseudo_label import PseudoLabels, pseudo_label


class EmptyRoundError(ValueError):
    """An SSLS round would train on zero pseudo-labels."""


@dataclass(frozen=True)
class Pool:
    """The unlabelled pool of a round: positions in the dataset, then the real alerts."""

    ds: TripletDataset
    remaining: np.ndarray
    alerts: UnlabelledAlerts

    def x(self) -> np.ndarray:
        return np.concatenate([self.ds.x[self.remaining], self.alerts.x])


def empty_round_message(
    key: str, pl: PseudoLabels, p: np.ndarray, cfg: RunConfig, real_fraction: float
) -> str:
    """Why a round has no pseudo-label, and what to do about it."""
    confident_real = int((p >= cfg.pseudo_threshold).sum())
    confident_bogus = int(((1 - p) >= cfg.pseudo_threshold).sum())
    return (
        f"{key}: zero pseudo-labels. The teacher is confident (>= {cfg.pseudo_threshold}) on "
        f"{confident_real} real and {confident_bogus} bogus of {p.size} unlabelled samples, and "
        f"balancing to the labelled real fraction {real_fraction:.3f} keeps none. Lower "
        "--pseudo-threshold, enlarge --unlabelled, or pass --skip-empty-rounds to skip such rounds "
        "(the report then says which were skipped)"
    )


def pseudo_labelled(
    pool: Pool,
    p: np.ndarray,
    train: tuple[np.ndarray, np.ndarray],
    cfg: RunConfig,
    real_fraction: float,
    key: str,
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """(x, y) of the round and what it used; EmptyRoundError when no pseudo-label is kept."""
    pl = pseudo_label(p, cfg.pseudo_threshold, real_fraction)
    if len(pl) == 0:
        raise EmptyRoundError(empty_round_message(key, pl, p, cfg, real_fraction))
    n_sim = pool.remaining.size
    from_sim, from_alerts = pl.index < n_sim, pl.index >= n_sim
    chosen = pool.remaining[pl.index[from_sim]]
    alert_rows = pl.index[from_alerts] - n_sim
    x = np.concatenate([train[0], pool.ds.x[chosen], pool.alerts.x[alert_rows]])
    y = np.concatenate([train[1], pl.labels]).astype(np.int64)
    sim_labels = pl.labels[from_sim]
    info: dict[str, Any] = {
        "n_confident": pl.n_confident,
        "n_pseudo": len(pl),
        "n_pseudo_real": int(pl.labels.sum()),
        "n_pseudo_real_alerts": int(alert_rows.size),
        "pseudo_label_accuracy": float((sim_labels == pool.ds.y[chosen]).mean()) if chosen.size else None,
        "real_alert_agreement_with_drb": _drb_agreement(pool.alerts, alert_rows, pl.labels[from_alerts]),
    }
    return (x, y), info


def _drb_agreement(alerts: UnlabelledAlerts, rows: np.ndarray, labels: np.ndarray) -> float | None:
    """Share of real-alert pseudo-labels that agree with drb (>= 0.5 real), where drb is known."""
    drb = alerts.drb[rows]
    known = np.isfinite(drb)
    if not known.any():
        return None
    return float(((drb[known] >= 0.5).astype(np.int64) == labels[known]).mean())
