"""The challenger's training set: human labels minus the evaluation set, plus configured extras.

What must stay true: no evaluation alert enters any training set. The human labels are split
by the recorded evaluation set; configured extra datasets (simulated, proxy-labelled) lose any
sample whose id is an evaluation alert (a proxy set can hold the same real alert); and the
evaluation alerts sit in the joined dataset's "test" split, which the stages only score, so
the stream's stored alerts that join the SSLS pool leave them out too (they are already in
the dataset). `training_ids` lists every id a run would train on and `check_disjoint`
refuses a run whose list meets the evaluation set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.method.config import RunConfig
from rbc1000.train.method.run_data import load_unlabelled, plan_for
from rbc1000.train.retrain.evaluation import EvaluationSet


class LeakError(RuntimeError):
    """An evaluation alert was about to be trained on."""


@dataclass(frozen=True)
class Split:
    """Human-labelled samples split into training and evaluation parts."""

    train: TripletDataset
    evaluation: TripletDataset


def split_human(human: TripletDataset, evaluation: EvaluationSet) -> Split:
    """Record the hash-chosen members among `human`, then split it by the recorded set."""
    evaluation.extend(tuple(str(i).split(":", 1)) for i in human.ids)  # type: ignore[misc]
    is_eval = np.array([str(i) in evaluation for i in human.ids], dtype=bool)
    return Split(
        human.subset(np.flatnonzero(~is_eval), f"{human.name}:train"),
        human.subset(np.flatnonzero(is_eval), f"{human.name}:evaluation"),
    )


def without(ds: TripletDataset, evaluation: EvaluationSet) -> TripletDataset:
    """`ds` less every sample whose id is an evaluation alert."""
    keep = np.array([str(i) not in evaluation for i in ds.ids], dtype=bool)
    return ds if keep.all() else ds.subset(np.flatnonzero(keep), ds.name)


def joined(parts: list[TripletDataset], evaluation: TripletDataset) -> TripletDataset:
    """One dataset: `parts` form the pool, `evaluation` the test split; first copy of an id wins."""
    seen: set[str] = set(evaluation.ids.astype(str).tolist())
    kept = []
    for part in parts:
        fresh = np.array([i not in seen for i in part.ids.astype(str)], dtype=bool)
        seen.update(part.ids.astype(str).tolist())
        kept.append(part.subset(np.flatnonzero(fresh), part.name))
    every = [*kept, evaluation]
    n_pool = sum(len(p) for p in kept)
    return TripletDataset(
        x=np.concatenate([p.x for p in every]),
        y=np.concatenate([p.y for p in every]).astype(np.int64),
        ids=np.concatenate([p.ids.astype(str) for p in every]),
        proxy=np.concatenate([p.proxy for p in every]).astype(bool),
        family=np.concatenate([p.family.astype(str) for p in every]),
        name="+".join(p.name for p in every),
        splits={
            "pool": np.arange(n_pool, dtype=np.int64),
            "test": np.arange(n_pool, n_pool + len(evaluation), dtype=np.int64),
        },
    )


def training_ids(cfg: RunConfig, ds: TripletDataset) -> set[str]:
    """Every id the stages of `cfg` on `ds` can train on: M, the pool (K and pseudo-labels), stored alerts."""
    plan = plan_for(cfg, ds)
    used = [plan.labelled, plan.unlabelled] + ([plan.full] if cfg.supervised_all else [])
    ids = set(ds.ids[np.concatenate(used)].astype(str).tolist())
    return ids | set(load_unlabelled(cfg, ds).ids.astype(str).tolist())


def check_disjoint(cfg: RunConfig, ds: TripletDataset, evaluation: EvaluationSet) -> int:
    """The number of training ids; LeakError if any is an evaluation alert."""
    ids = training_ids(cfg, ds)
    leaked = sorted(i for i in ids if i in evaluation)
    if leaked:
        raise LeakError(f"{len(leaked)} evaluation alerts would be trained on, e.g. {leaked[:3]}")
    return len(ids)
