"""Integration tests run against a real Kafka broker, never a mock.

Start one with `deploy/kafka/kafka.sh start` and export its address:
`export RBC_TEST_BOOTSTRAP=$(cat deploy/kafka/.work/bootstrap)` (scripts/test.sh does both).
Without RBC_TEST_BOOTSTRAP these tests are skipped on a workstation, but fail under CI=true,
so a CI run can never pass by silently skipping them.
"""

from __future__ import annotations

import json
import os
import urllib.request

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

BOOTSTRAP_ENV = "RBC_TEST_BOOTSTRAP"
REGISTRY_ENV = "RBC_TEST_REGISTRY_URL"


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


@pytest.fixture(scope="session")
def registry() -> str:
    """Base URL of the Confluent API of the test registry (deploy/registry/registry.sh), checked."""
    url = os.environ.get(REGISTRY_ENV, "").strip().rstrip("/")
    if not url:
        message = (
            f"{REGISTRY_ENV} is not set: start a registry with deploy/registry/registry.sh start "
            f"and export {REGISTRY_ENV}=$(cat deploy/registry/.work/url)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=15) as response:
            json.load(response)
    except (OSError, ValueError) as exc:
        pytest.fail(f"no schema registry answers at {REGISTRY_ENV}={url}: {exc}")
    return url
