"""The data side of a run: load and join datasets, then fix who is test, labelled and unlabelled.

Indices everywhere are positions in the joined dataset. The plan depends only on the
datasets and the seed, so a resumed run sees exactly the same split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rbc1000.model.preprocessing import PREPROCESSING_VERSION
from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.loaders.unlabelled import UnlabelledAlerts, load_unlabelled_alerts
from rbc1000.train.method.config import RunConfig, load_config


def load_datasets(paths: list[str], preprocessing: str = PREPROCESSING_VERSION) -> TripletDataset:
    """Load every path with `rbc1000.train.data.loaders.load_dataset` and join them (splits included)."""
    from rbc1000.train.data.loaders import load_dataset

    parts = [load_dataset(p, preprocessing=preprocessing) for p in paths]
    return parts[0] if len(parts) == 1 else concatenate(parts)


def concatenate(parts: list[TripletDataset]) -> TripletDataset:
    """One dataset holding all `parts`; a part without test/pool splits gets seeded ones.

    A sample whose id an earlier part already holds is dropped (the simulated set embeds real
    alerts that a proxy-labelled alert set holds too), so no alert can sit in the test split
    of one part and the training pool of another.
    """
    kept: list[TripletDataset] = []
    splits: dict[str, list[np.ndarray]] = {"test": [], "pool": []}
    seen: set[str] = set()
    offset = 0
    for part in parts:
        part = ensure_splits(part)
        fresh = np.array([i not in seen for i in part.ids.astype(str)], dtype=bool)
        seen.update(part.ids.astype(str))
        new_position = np.cumsum(fresh) - 1
        for name in splits:
            own = np.asarray(part.splits[name])
            splits[name].append(new_position[own[fresh[own]]] + offset)
        kept.append(part.subset(np.flatnonzero(fresh)))
        offset += int(fresh.sum())
    return TripletDataset(
        x=np.concatenate([p.x for p in kept]),
        y=np.concatenate([p.y for p in kept]).astype(np.int64),
        ids=np.concatenate([p.ids.astype(str) for p in kept]),
        proxy=np.concatenate([p.proxy for p in kept]).astype(bool),
        family=np.concatenate([p.family.astype(str) for p in kept]),
        name="+".join(p.name for p in parts),
        splits={k: np.concatenate(v).astype(np.int64) for k, v in splits.items()},
    )


def stratified_take(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Positions of about `fraction` of each class of `y`, sorted."""
    taken = []
    for cls in (0, 1):
        members = np.flatnonzero(y == cls)
        n = round(fraction * members.size)
        taken.append(rng.permutation(members)[:n])
    return np.sort(np.concatenate(taken))


def ensure_splits(ds: TripletDataset, test_fraction: float = 0.1, seed: int = 0) -> TripletDataset:
    """`ds` itself if it has "test" and "pool" splits, else a copy with seeded stratified ones."""
    if "test" in ds.splits and "pool" in ds.splits:
        return ds
    test = stratified_take(ds.y, test_fraction, np.random.default_rng(seed))
    pool = np.setdiff1d(np.arange(len(ds)), test)
    return TripletDataset(ds.x, ds.y, ds.ids, ds.proxy, ds.family, ds.name, {"test": test, "pool": pool})


@dataclass(frozen=True)
class RunPlan:
    """Fixed sample roles for a run (positions in the joined dataset)."""

    test: np.ndarray
    labelled: np.ndarray  # the M initial labels
    labelled_val: np.ndarray  # bool per labelled sample: in the validation part (fixed mode)
    unlabelled: np.ndarray  # the pool the K and the pseudo-labels come from
    full: np.ndarray  # every pool label, for the full-supervision stage


def val_flags(n: int, val_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Random boolean mask with int(n * (1 - val_fraction)) False (train) entries."""
    flags = np.ones(n, dtype=bool)
    flags[rng.permutation(n)[: int(n * (1.0 - val_fraction))]] = False
    return flags


def make_plan(
    ds: TripletDataset,
    m: int,
    unlabelled: int,
    val_fraction: float,
    seed: int,
    test_max: int = 0,
    supervised_max: int = 0,
) -> RunPlan:
    """Draw the M labelled and the unlabelled pool from the "pool" split, seeded."""
    ds = ensure_splits(ds, seed=seed)
    rng = np.random.default_rng(seed)
    test = np.asarray(ds.splits["test"])
    if test_max and test.size > test_max:
        test = test[stratified_take(ds.y[test], test_max / test.size, rng)]
    pool = rng.permutation(np.asarray(ds.splits["pool"]))
    if pool.size < m + 1:
        raise ValueError(f"pool has {pool.size} samples; M={m} needs at least {m + 1}")
    full = pool if not supervised_max else pool[:supervised_max]
    return RunPlan(
        test=test,
        labelled=pool[:m],
        labelled_val=val_flags(m, val_fraction, rng),
        unlabelled=pool[m : m + unlabelled],
        full=full,
    )


def plan_for(cfg: RunConfig, ds: TripletDataset) -> RunPlan:
    """The plan `rbc-train run` draws for `cfg` on `ds`."""
    return make_plan(
        ds, cfg.m_initial, cfg.unlabelled, cfg.val_fraction, cfg.seed, cfg.test_max, cfg.supervised_max
    )


def trained_ids(run_dir: Path, loaded: tuple[list[str], TripletDataset] | None = None) -> set[str]:
    """Ids of every sample the run in `run_dir` trained on, with a label or a pseudo-label.

    That is its M labels, its whole unlabelled pool (the K expert labels and every
    pseudo-label are drawn from it), the real alerts of `unlabelled_alerts` and, when the run
    measured full supervision, every pool sample: anything else is data none of its stages
    has seen. `loaded` (dataset specs and
    their joined dataset) is reused instead of loading the run's datasets again when the
    specs are the run's own.
    """
    cfg = load_config(run_dir / "config.yaml", {})
    same = loaded is not None and list(loaded[0]) == cfg.datasets
    ds = loaded[1] if loaded is not None and same else load_datasets(cfg.datasets, cfg.preprocessing)
    plan = plan_for(cfg, ds)
    used = [plan.labelled, plan.unlabelled] + ([plan.full] if cfg.supervised_all else [])
    seen = set(ds.ids[np.concatenate(used)].astype(str).tolist())
    return seen | set(load_unlabelled(cfg, ds).ids.tolist())


def load_unlabelled(cfg: RunConfig, ds: TripletDataset) -> UnlabelledAlerts:
    """The real alerts of cfg.unlabelled_alerts that `ds` does not hold (empty when none asked)."""
    if not cfg.unlabelled_alerts:
        return UnlabelledAlerts.empty()
    return load_unlabelled_alerts(cfg.unlabelled_alerts, set(ds.ids.astype(str).tolist()), cfg.preprocessing)
