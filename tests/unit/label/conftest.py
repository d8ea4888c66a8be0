"""Fixtures of the labelling app's tests: a SQLite store in a temporary file, the app over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from rbc1000.label.app import create_app
from rbc1000.label.ingest import Ingester, IngestReport
from rbc1000.label.settings import LabelSettings
from rbc1000.label.store import Store

THRESHOLD = 0.8


@pytest.fixture
def settings(tmp_path: Path) -> LabelSettings:
    return LabelSettings(
        database_url=f"sqlite:///{tmp_path / 'label.sqlite'}",
        ingest=False,
        publish=False,
        threshold=THRESHOLD,
    )


@pytest.fixture
def store(settings: LabelSettings) -> Iterator[Store]:
    store = Store.open(settings.database_url)
    yield store
    store.close()


@pytest.fixture
def ingester(store: Store) -> Ingester:
    return Ingester(store, THRESHOLD, 16 * 1024 * 1024)


def ingest(ingester: Ingester, records: list[dict[str, object]]) -> IngestReport:
    report = IngestReport()
    ingester.store_rows(ingester.rows([(f"test#{i}", r) for i, r in enumerate(records)], report), report)
    return report


@pytest.fixture
def client(settings: LabelSettings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store), base_url="http://127.0.0.1") as client:
        yield client
