"""Fixtures of the service unit tests."""

from __future__ import annotations

import pytest

from rbc1000.model.scoring import Scorer
from tests.support.model_factory import write_tiny_model


@pytest.fixture(scope="session")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    """A contract-valid tiny ONNX model on the CPU (it learned nothing; its scores are arbitrary)."""
    return Scorer.load(write_tiny_model(tmp_path_factory.mktemp("model") / "m.onnx"), provider="cpu")
