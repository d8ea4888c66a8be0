"""I/O binding under the CPU provider: the same scores as the plain path, buffers reused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rbc1000.assets import default_model_path
from rbc1000.model.binding import BoundRunner
from rbc1000.model.scoring import Scorer
from tests.support.model_factory import write_tiny_model


@pytest.fixture(scope="module")
def scorers() -> tuple[Scorer, Scorer]:
    """The shipped model twice: plain and through I/O binding, one CPU thread each."""
    path = default_model_path()
    return Scorer.load(path, "cpu", 1), Scorer.load(path, "cpu", 1, io_binding=True)


def _triplets(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.arcsinh(rng.normal(0, 3, (n, 3, 63, 63))).astype(np.float32)


@pytest.mark.parametrize("n", [1, 7, 64, 65, 130])
def test_bound_scores_equal_plain_scores(scorers: tuple[Scorer, Scorer], n: int) -> None:
    plain, bound = scorers
    x = _triplets(n, seed=n)
    got = bound.score(x)
    assert got.dtype == np.float32 and got.shape == (n,)
    np.testing.assert_array_equal(got, plain.score(x))


def test_buffers_grow_to_a_power_of_two_and_are_reused(tmp_path: Path) -> None:
    scorer = Scorer.load(write_tiny_model(tmp_path / "m.onnx"), "cpu", 1, io_binding=True)
    runner = scorer._runner
    assert isinstance(runner, BoundRunner) and runner.device == "cpu" and not runner.pinned
    assert runner.capacity == 64  # the smoke batch of 4 allocated the minimum
    scorer.score(_triplets(100))
    assert runner.capacity == 128
    host = runner._host
    scorer.score(_triplets(3))
    scorer.score(_triplets(128))
    assert runner.capacity == 128 and runner._host is host


def test_bound_result_does_not_alias_the_buffer(tmp_path: Path) -> None:
    scorer = Scorer.load(write_tiny_model(tmp_path / "m.onnx"), "cpu", 1, io_binding=True)
    first = scorer.score(_triplets(5, seed=1))
    kept = first.copy()
    scorer.score(_triplets(5, seed=2))
    np.testing.assert_array_equal(first, kept)


def test_bound_path_keeps_empty_batch_and_shape_checks(tmp_path: Path) -> None:
    scorer = Scorer.load(write_tiny_model(tmp_path / "m.onnx"), "cpu", 1, io_binding=True)
    assert scorer.io_binding
    assert scorer.score(np.empty((0, 3, 63, 63), np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        scorer.score(np.zeros((2, 3, 32, 32), np.float32))
