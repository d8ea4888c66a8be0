"""Selection of the K samples for the experts, and pseudo-labelling for SSLS."""

from __future__ import annotations

import numpy as np
import pytest

from rbc1000.train.method.pseudo_label import pseudo_label
from rbc1000.train.method.selection import MEASURES, select_uncertain


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("k", [0, 1, 7, 100])
def test_selection_returns_exactly_k_least_confident(measure: str, k: int) -> None:
    p = np.random.default_rng(k).uniform(0, 1, 500)
    chosen = select_uncertain(p, k, measure)
    assert chosen.size == k and np.unique(chosen).size == k
    distance = np.abs(p - 0.5)
    others = np.setdiff1d(np.arange(p.size), chosen)
    if k:
        assert distance[chosen].max() <= distance[others].min()
        assert np.all(np.diff(distance[chosen]) >= 0)  # most uncertain first


def test_selection_of_more_than_the_pool_returns_the_pool() -> None:
    assert sorted(select_uncertain(np.array([0.1, 0.6, 0.9]), 10).tolist()) == [0, 1, 2]


def test_pseudo_labels_respect_threshold_and_balance() -> None:
    rng = np.random.default_rng(0)
    p = np.concatenate(
        [rng.uniform(0.96, 1.0, 300), rng.uniform(0.0, 0.04, 100), rng.uniform(0.06, 0.94, 200)]
    )
    pl = pseudo_label(p, threshold=0.95, real_fraction=0.25)
    confidence = np.maximum(p, 1 - p)
    assert pl.n_confident == 400
    assert np.all(confidence[pl.index] >= 0.95)
    assert np.array_equal(pl.labels, (p[pl.index] > 0.5).astype(int))
    assert int((pl.labels == 0).sum()) == 100  # the smaller class is kept whole
    assert int((pl.labels == 1).sum()) == int(100 * 0.25 / 0.75)
    kept_real = pl.index[pl.labels == 1]
    dropped_real = np.setdiff1d(np.arange(300), kept_real)
    assert p[kept_real].min() >= p[dropped_real].max()  # most confident of the larger class


def test_pseudo_labels_cut_bogus_when_bogus_is_the_surplus() -> None:
    p = np.array([0.99, 0.98, 0.01, 0.02, 0.03, 0.04, 0.005, 0.5])
    pl = pseudo_label(p, threshold=0.95, real_fraction=0.5)
    assert sorted(pl.index.tolist()) == [0, 1, 2, 6]  # two reals, the two most confident bogus
    assert pseudo_label(np.array([0.6, 0.4]), 0.95, 0.5).index.size == 0
