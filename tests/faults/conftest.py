"""The fault suite of issue 19: the real `rbc serve` against a real broker, under faults.

Every case here is marked `faults` (and `integration`: it needs a broker, so
`scripts/test.sh --unit` leaves it out). The cases marked `faults_slow` run only with
RBC_FAULTS_FULL=1, which `scripts/test-faults.sh` sets; the rest are the fast subset that
`scripts/test.sh` runs with the other integration tests. Each case prints one JSON line
(`tests.faults.report`). The broker comes from RBC_TEST_BOOTSTRAP and the schema registry
from RBC_TEST_REGISTRY_URL, as for the integration tests; the cases that kill, freeze or
restart a broker start a private one through `deploy/kafka/kafka.sh` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.broker import ScriptBroker
from tests.integration.conftest import bootstrap, registry  # noqa: F401  (the same fixtures)
from tests.support.model_factory import write_tiny_model

FULL_ENV = "RBC_FAULTS_FULL"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = []
    for item in items:
        if "tests/faults/" not in item.nodeid:
            continue
        item.add_marker(pytest.mark.faults)
        item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("faults_slow") is not None:
            slow.append(item)
    if slow and os.environ.get(FULL_ENV) != "1":
        # Deselected, not skipped: the normal run is not a list of reminders.
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny test model (tests.support.model_factory): real ONNX Runtime, instant scores."""
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[ScriptBroker]:
    """A broker of this case alone, started fresh by kafka.sh and stopped after the case."""
    broker = ScriptBroker(tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
