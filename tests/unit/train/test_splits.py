"""Fixed splits: stratified, seeded, independent of sample order, recorded by id."""

from __future__ import annotations

import numpy as np
import pytest

from rbc1000.train.data.splits import split_ids, splits_from_ids, stratified_split


def _toy(n_real: int = 300, n_bogus: int = 700) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.array([f"s{i}" for i in range(n_real + n_bogus)])
    y = np.array([1] * n_real + [0] * n_bogus)
    family = np.array(["a", "b", "c"] * ((n_real + n_bogus) // 3) + ["a"] * ((n_real + n_bogus) % 3))
    return ids, y, family


def test_split_is_stratified_disjoint_and_complete() -> None:
    ids, y, family = _toy()
    splits = stratified_split(ids, y, family, test_fraction=0.2, seed=3)
    test, pool = splits["test"], splits["pool"]
    assert len(set(test) & set(pool)) == 0
    assert len(test) + len(pool) == len(ids)
    for label in (0, 1):
        for fam in "abc":
            stratum = (y == label) & (family == fam)
            in_test = stratum[test].sum()
            assert abs(in_test - 0.2 * stratum.sum()) <= 1


def test_same_seed_same_members_whatever_the_order() -> None:
    ids, y, family = _toy()
    first = set(ids[stratified_split(ids, y, family, seed=5)["test"]])
    order = np.random.default_rng(0).permutation(len(ids))
    second = set(ids[order][stratified_split(ids[order], y[order], family[order], seed=5)["test"]])
    assert first == second
    other = set(ids[stratified_split(ids, y, family, seed=6)["test"]])
    assert other != first


def test_recorded_ids_round_trip_and_unknown_ids_fail() -> None:
    ids, y, family = _toy(30, 70)
    splits = stratified_split(ids, y, family)
    recorded = split_ids(ids, splits)
    back = splits_from_ids(ids, recorded)
    assert all(np.array_equal(back[k], splits[k]) for k in splits)
    with pytest.raises(ValueError, match="not in the data"):
        splits_from_ids(ids[:50], recorded)


def test_bad_fraction_and_duplicate_ids_are_refused() -> None:
    ids, y, _ = _toy(10, 10)
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(ids, y, test_fraction=1.5)
    with pytest.raises(ValueError, match="unique"):
        stratified_split(np.array(["x"] * 20), y)
