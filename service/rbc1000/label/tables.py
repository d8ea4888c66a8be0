"""The labelling database: its tables (SQLAlchemy Core) and its versioned migrations.

The same tables serve SQLite (the embedded default) and PostgreSQL. Times are integer
milliseconds since the Unix epoch, UTC. Every vote is a row that is never deleted: undo
marks it `undone_at`, so who voted what, and when, stays on record.

Migrations: `SCHEMA_VERSION` is the shape below. An empty database gets the tables created
and is stamped with it; a database at an older version runs each later step of
`MIGRATIONS` in order, in one transaction per step; a newer one is refused, because this
code would misread it. A change to the tables below goes with a new step that brings an
existing database to the same shape.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    inspect,
    select,
)

metadata = MetaData()

schema_version = Table(
    "rbc_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", BigInteger, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("object_id", String(64), nullable=False),
    Column("survey", String(16), nullable=False),
    Column("mjd", Float, nullable=False),
    Column("ra", Float, nullable=False),
    Column("dec", Float, nullable=False),
    Column("band", String(16), nullable=False),
    Column("mag", Float),
    Column("mag_err", Float),
    Column("flux", Float),
    Column("flux_err", Float),
    Column("p_real", Float, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("model_version", String(128), nullable=False),
    Column("scored_at", BigInteger, nullable=False),
    Column("selection_reason", String(16), nullable=False),
    Column("survey_score", Float),
    Column("survey_score_name", String(32)),
    # Queue order: uncertain (0) before random (1), then nearest to the threshold first.
    Column("priority_group", SmallInteger, nullable=False),
    Column("distance", Float, nullable=False),
    Column("status", String(16), nullable=False, default="open"),  # open, review, labelled
    Column("label", String(16)),  # the consensus label while status is labelled
    Column("labelled_at", BigInteger),
    Column("ingested_at", BigInteger, nullable=False),
    Column("source", String(300), nullable=False),
    Index("ix_alerts_queue", "status", "priority_group", "distance", "alert_id"),
)

packets = Table(
    "packets",
    metadata,
    Column("alert_id", String(64), ForeignKey("alerts.alert_id"), primary_key=True),
    Column("packet", LargeBinary),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # labeller, admin
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", BigInteger, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

votes = Table(
    "votes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), ForeignKey("alerts.alert_id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("label", String(8), nullable=False),  # real, bogus, unsure, skip
    Column("resolution", Boolean, nullable=False, default=False),  # an admin's verdict on review
    Column("voted_at", BigInteger, nullable=False),
    Column("undone_at", BigInteger),
    Index("ix_votes_alert_user", "alert_id", "user_id"),
    Index("ix_votes_user", "user_id", "id"),
)

# The outbox of the labels topic: written in the transaction that settles an alert,
# published and marked afterwards, so a label is never lost between database and broker.
label_events = Table(
    "label_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), ForeignKey("alerts.alert_id"), nullable=False),
    Column("label", String(16), nullable=False),  # real, bogus, retracted
    Column("labellers", String(1000), nullable=False),
    Column("votes", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("published_at", BigInteger),
    Index("ix_label_events_pending", "published_at", "id"),
)

SCHEMA_VERSION = 1
# version -> the step that brings a database at version - 1 to it.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


class SchemaError(RuntimeError):
    """The database was written by a newer version of this code."""


def current_version(conn: Connection) -> int | None:
    """The database's schema version; None for an empty database."""
    if not inspect(conn).has_table(schema_version.name):
        return None
    found = conn.execute(select(schema_version.c.version).order_by(schema_version.c.version.desc())).first()
    return int(found[0]) if found else 0


def migrate(conn: Connection, now_ms: int) -> int:
    """Bring the database to `SCHEMA_VERSION` (see the module docstring); return it."""
    version = current_version(conn)
    if version is None:
        metadata.create_all(conn)
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, applied_at=now_ms))
        return SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema {version} is newer than this code's {SCHEMA_VERSION}: upgrade rbc"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[step](conn)
        conn.execute(schema_version.insert().values(version=step, applied_at=now_ms))
    return SCHEMA_VERSION
