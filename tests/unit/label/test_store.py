"""The data-access layer on SQLite and, when RBC_TEST_POSTGRES_URL is set, on PostgreSQL.

Install PostgreSQL if absent, start a throwaway server and export its URL with
`export RBC_TEST_POSTGRES_URL=$(scripts/test-label-deps.sh --postgres-url)`; without it the
PostgreSQL half is skipped, saying so. Each test gets its own database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rbc1000.alerts.decoding import Decoder
from rbc1000.label.ingest import Ingester
from rbc1000.label.store import Store, VoteRefused
from rbc1000.label.tables import SCHEMA_VERSION, SchemaError, schema_version
from tests.unit.label.conftest import ingest
from tests.unit.label.factory import FIRST_ID, add_account, scored_record

POSTGRES_ENV = "RBC_TEST_POSTGRES_URL"


def _postgres_database() -> Iterator[str]:
    base = os.environ.get(POSTGRES_ENV, "").strip()
    if not base:
        pytest.skip(
            f"{POSTGRES_ENV} is not set: export {POSTGRES_ENV}=$(scripts/test-label-deps.sh --postgres-url)"
        )
    pytest.importorskip("psycopg", reason="psycopg is not installed: uv sync --extra label")
    name = f"rbc_label_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}")
        yield store
        store.close()
        return
    for url in _postgres_database():
        store = Store.open(url)
        yield store
        store.close()


def test_alerts_are_stored_once_with_packets(any_store: Store) -> None:
    ingester = Ingester(any_store, 0.8, 1 << 24)
    assert ingest(ingester, [scored_record(1, 0.8), scored_record(2, 0.5, "random")]).stored == 2
    assert ingest(ingester, [scored_record(1, 0.1), scored_record(3, 0.9)]).stored == 1
    first = any_store.alert(str(FIRST_ID + 1))
    assert first is not None and first.p_real == pytest.approx(0.8) and first.mag is not None
    assert first.survey_score_name is not None  # read from the packet: the record has none
    assert any_store.status_counts() == {"open": 3}
    decoded = Decoder().decode(any_store.packet(str(FIRST_ID + 1)) or b"")
    assert [getattr(r, "alert_id", None) for r in decoded] == [FIRST_ID + 1]


def test_votes_queue_consensus_and_outbox(any_store: Store) -> None:
    ingest(Ingester(any_store, 0.8, 1 << 24), [scored_record(n, 0.8 - n / 100) for n in (1, 2, 3)])
    alice, bob = add_account(any_store, "alice"), add_account(any_store, "bob")
    ids = [str(FIRST_ID + n) for n in (1, 2, 3)]
    assert [a.alert_id for a in any_store.next_alerts(alice, 5)] == ids
    any_store.vote(ids[0], alice, "real", 2)
    with pytest.raises(VoteRefused):
        any_store.vote(ids[0], alice, "bogus", 2)
    assert [a.alert_id for a in any_store.next_alerts(alice, 5)] == ids[1:]
    assert any_store.next_alerts(bob, 1)[0].alert_id == ids[0]
    assert any_store.vote(ids[0], bob, "real", 2).label == "real"
    assert any_store.vote(ids[1], bob, "bogus", 2).status == "open"
    assert any_store.vote(ids[1], alice, "real", 2).status == "review"
    assert any_store.progress(alice) == (2, 1)
    assert any_store.undo_last(alice, 2) == ids[1]
    assert any_store.alert(ids[1]).status == "open"  # type: ignore[union-attr]
    events = any_store.pending_events()
    assert [(e.alert_id, e.label, e.labellers) for e in events] == [(ids[0], "real", "alice;bob")]
    any_store.mark_published([e.id for e in events])
    assert any_store.pending_events() == []


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store.open(url)
    with store.engine.begin() as conn:
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION + 1, applied_at=0))
    store.close()
    with pytest.raises(SchemaError):
        Store.open(url)
    reopened = Store.open(f"sqlite:///{tmp_path / 'other.sqlite'}")
    Store(reopened.engine)  # migrating an up-to-date database changes nothing
