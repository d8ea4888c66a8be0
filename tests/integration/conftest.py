"""Integration tests run against a real Kafka broker, never a mock.

Start one with `deploy/kafka/kafka.sh start` and export its address:
`export RBC_TEST_BOOTSTRAP=$(cat deploy/kafka/.work/bootstrap)` (scripts/test.sh does both).
Without RBC_TEST_BOOTSTRAP these tests are skipped on a workstation, but fail under CI=true,
so a CI run can never pass by silently skipping them.
"""

from __future__ import annotations

import os

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

BOOTSTRAP_ENV = "RBC_TEST_BOOTSTRAP"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.nodeid:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def bootstrap() -> str:
    """host:port of the test broker, checked to answer."""
    address = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if not address:
        message = (
            f"{BOOTSTRAP_ENV} is not set: start a broker with deploy/kafka/kafka.sh start "
            f"and export {BOOTSTRAP_ENV}=$(cat deploy/kafka/.work/bootstrap)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        AdminClient({"bootstrap.servers": address}).list_topics(timeout=15)
    except KafkaException as exc:
        pytest.fail(f"no Kafka broker answers at {BOOTSTRAP_ENV}={address}: {exc}")
    return address
