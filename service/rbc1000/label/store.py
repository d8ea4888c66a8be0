"""The one data-access layer of the labelling app: SQLite by default, PostgreSQL by URL.

Every query the app, the ingest, the publisher and the export make is a method here
(SQLAlchemy Core, no ORM), so the two databases are tested through the same calls. Writes
that must agree (a vote, the alert's new status and the labels-topic outbox row) share one
transaction; on PostgreSQL the alert row is locked first, so two labellers voting at the
same moment settle it once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, Engine, and_, create_engine, event, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from rbc1000.label.accounts_store import AccountStore
from rbc1000.label.consensus import FINAL_LABELS, CastVote, Outcome, settle
from rbc1000.label.tables import alerts, label_events, migrate, packets, users, votes


def now_ms() -> int:
    return int(time.time() * 1000)


class VoteRefused(ValueError):
    """A vote that cannot be cast: unknown alert, already settled, or already voted on."""


@dataclass(frozen=True, slots=True)
class AlertFields:
    """What every view of a stored alert carries: the scored record's fields and the packet's."""

    alert_id: str
    object_id: str
    survey: str
    mjd: float
    ra: float
    dec: float
    band: str
    mag: float | None
    mag_err: float | None
    flux: float | None
    flux_err: float | None
    p_real: float
    decision: str
    model_name: str
    model_version: str
    scored_at: int
    selection_reason: str
    survey_score: float | None
    survey_score_name: str | None


@dataclass(frozen=True, slots=True)
class AlertRow(AlertFields):
    """One alert as ingested: its fields, where it sits in the queue, and the packet."""

    priority_group: int
    distance: float
    source: str
    packet: bytes | None


@dataclass(frozen=True, slots=True)
class AlertView(AlertFields):
    """An alert as the pages show it (no packet bytes), with its labelling status."""

    status: str
    label: str | None
    labelled_at: int | None


@dataclass(frozen=True, slots=True)
class VoteView:
    username: str
    label: str
    voted_at: int
    undone_at: int | None
    resolution: bool


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """One outbox row: a consensus label (or its retraction) to publish."""

    id: int
    alert_id: str
    label: str
    labellers: str
    votes: int
    created_at: int


_ALERT_COLUMNS = [alerts.c[f.name] for f in fields(AlertView)]
_ROW_COLUMNS = [f.name for f in fields(AlertRow) if f.name != "packet"]


def _alert_view(row: Any) -> AlertView:
    return AlertView(*row)


def create_store_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class Store(AccountStore):
    """Alerts, votes, the labels outbox, users and sessions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            migrate(conn, now_ms())

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to `url` and bring its schema up to date."""
        return cls(create_store_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    # Alerts -------------------------------------------------------------------------------

    def add_alerts(self, rows: Sequence[AlertRow]) -> int:
        """Store alerts not stored yet (by alert id); return how many were new."""
        if not rows:
            return 0
        now = now_ms()
        alert_values = [
            {**{n: getattr(r, n) for n in _ROW_COLUMNS}, "status": "open", "ingested_at": now} for r in rows
        ]
        with self.engine.begin() as conn:
            ids = [r.alert_id for r in rows]
            before = set(conn.execute(select(alerts.c.alert_id).where(alerts.c.alert_id.in_(ids))).scalars())
            conn.execute(
                self._insert(alerts).on_conflict_do_nothing(index_elements=["alert_id"]), alert_values
            )
            fresh = [r for r in rows if r.alert_id not in before]
            if fresh:
                conn.execute(
                    self._insert(packets).on_conflict_do_nothing(index_elements=["alert_id"]),
                    [{"alert_id": r.alert_id, "packet": r.packet} for r in fresh],
                )
        return len({r.alert_id for r in fresh})

    def alert(self, alert_id: str) -> AlertView | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_ALERT_COLUMNS).where(alerts.c.alert_id == alert_id)).first()
        return None if row is None else _alert_view(row)

    def packet(self, alert_id: str) -> bytes | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(packets.c.packet).where(packets.c.alert_id == alert_id)).scalar()
        return None if value is None else bytes(value)

    def packet_size(self, alert_id: str) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.length(packets.c.packet)).where(packets.c.alert_id == alert_id)
            ).scalar()
        return None if value is None else int(value)

    def _unvoted_by(self, user_id: int) -> Any:
        return ~exists().where(
            and_(
                votes.c.alert_id == alerts.c.alert_id, votes.c.user_id == user_id, votes.c.undone_at.is_(None)
            )
        )

    def next_alerts(self, user_id: int, limit: int = 1) -> list[AlertView]:
        """The user's queue: open alerts they have no standing vote on, highest priority first."""
        query = (
            select(*_ALERT_COLUMNS)
            .where(alerts.c.status == "open", self._unvoted_by(user_id))
            .order_by(alerts.c.priority_group, alerts.c.distance, alerts.c.alert_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_alert_view(r) for r in conn.execute(query)]

    def progress(self, user_id: int) -> tuple[int, int]:
        """(standing votes the user cast, alerts left in the user's queue)."""
        with self.engine.connect() as conn:
            done = conn.execute(
                select(func.count()).where(votes.c.user_id == user_id, votes.c.undone_at.is_(None))
            ).scalar_one()
            left = conn.execute(
                select(func.count()).where(alerts.c.status == "open", self._unvoted_by(user_id))
            ).scalar_one()
        return int(done), int(left)

    def status_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status))
            return {str(s): int(n) for s, n in rows}

    def review_queue(self, limit: int = 200) -> list[AlertView]:
        query = select(*_ALERT_COLUMNS).where(alerts.c.status == "review").order_by(alerts.c.alert_id)
        with self.engine.connect() as conn:
            return [_alert_view(r) for r in conn.execute(query.limit(limit))]

    def labelled(self, after: str = "", limit: int = 1000) -> list[tuple[AlertView, str]]:
        """Up to `limit` settled alerts by alert id after `after`, each with its labellers."""
        query = (
            select(*_ALERT_COLUMNS)
            .where(alerts.c.status == "labelled", alerts.c.alert_id > after)
            .order_by(alerts.c.alert_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [_alert_view(r) for r in conn.execute(query)]
            voters = conn.execute(
                select(votes.c.alert_id, users.c.username, votes.c.label, votes.c.resolution)
                .join(users, users.c.id == votes.c.user_id)
                .where(votes.c.alert_id.in_([r.alert_id for r in rows]), votes.c.undone_at.is_(None))
                .order_by(votes.c.id)
            ).all()
        out = []
        for view in rows:
            mine = [(u, lab, res) for a, u, lab, res in voters if a == view.alert_id and lab == view.label]
            verdicts = [u for u, _, res in mine if res]
            out.append((view, verdicts[-1] if verdicts else ";".join(u for u, _, _ in mine)))
        return out

    # Votes --------------------------------------------------------------------------------

    def _standing(self, conn: Connection, alert_id: str) -> list[CastVote]:
        query = (
            select(users.c.username, votes.c.label, votes.c.voted_at, votes.c.resolution)
            .join(users, users.c.id == votes.c.user_id)
            .where(votes.c.alert_id == alert_id, votes.c.undone_at.is_(None))
            .order_by(votes.c.id)
        )
        return [CastVote(u, lab, int(t), bool(r)) for u, lab, t, r in conn.execute(query)]

    def _lock_alert(self, conn: Connection, alert_id: str) -> Any:
        query = select(alerts.c.status, alerts.c.label).where(alerts.c.alert_id == alert_id)
        return conn.execute(query.with_for_update()).first()

    def vote(self, alert_id: str, user_id: int, label: str, n: int, resolution: bool = False) -> Outcome:
        """Record a vote and settle the alert (resolution: an admin's verdict on a review)."""
        with self.engine.begin() as conn:
            found = self._lock_alert(conn, alert_id)
            if found is None:
                raise VoteRefused(f"no alert {alert_id}")
            wanted = "review" if resolution else "open"
            if found.status != wanted:
                raise VoteRefused(f"alert {alert_id} is {found.status}, not {wanted}")
            if resolution and label not in FINAL_LABELS:
                raise VoteRefused(f"a verdict is one of {FINAL_LABELS}")
            mine = votes.c.user_id == user_id
            if (
                conn.execute(
                    select(func.count()).where(
                        votes.c.alert_id == alert_id, mine, votes.c.undone_at.is_(None)
                    )
                ).scalar_one()
                and not resolution
            ):
                raise VoteRefused(f"you already voted on alert {alert_id}")
            conn.execute(
                votes.insert().values(
                    alert_id=alert_id, user_id=user_id, label=label, resolution=resolution, voted_at=now_ms()
                )
            )
            return self._resettle(conn, alert_id, found.label, n)

    def undo_last(self, user_id: int, n: int) -> str | None:
        """Withdraw the user's latest standing vote; return its alert id (None: nothing to undo)."""
        with self.engine.begin() as conn:
            last = conn.execute(
                select(votes.c.id, votes.c.alert_id)
                .where(votes.c.user_id == user_id, votes.c.undone_at.is_(None), ~votes.c.resolution)
                .order_by(votes.c.id.desc())
                .limit(1)
            ).first()
            if last is None:
                return None
            found = self._lock_alert(conn, last.alert_id)
            conn.execute(update(votes).where(votes.c.id == last.id).values(undone_at=now_ms()))
            self._resettle(conn, last.alert_id, found.label, n)
            return str(last.alert_id)

    def _resettle(self, conn: Connection, alert_id: str, old_label: str | None, n: int) -> Outcome:
        standing = self._standing(conn, alert_id)
        outcome = settle(standing, n)
        conn.execute(
            update(alerts)
            .where(alerts.c.alert_id == alert_id)
            .values(status=outcome.status, label=outcome.label, labelled_at=outcome.labelled_at)
        )
        if outcome.label != old_label:
            conn.execute(
                label_events.insert().values(
                    alert_id=alert_id,
                    label=outcome.label or "retracted",
                    labellers=";".join(outcome.labellers),
                    votes=len([v for v in standing if v.label != "skip"]),
                    created_at=now_ms(),
                )
            )
        return outcome

    def votes_on(self, alert_id: str) -> list[VoteView]:
        """Every vote ever cast on an alert, undone ones included, oldest first."""
        query = (
            select(users.c.username, votes.c.label, votes.c.voted_at, votes.c.undone_at, votes.c.resolution)
            .join(users, users.c.id == votes.c.user_id)
            .where(votes.c.alert_id == alert_id)
            .order_by(votes.c.id)
        )
        with self.engine.connect() as conn:
            return [
                VoteView(u, lab, int(t), None if d is None else int(d), bool(r))
                for u, lab, t, d, r in conn.execute(query)
            ]

    # The labels-topic outbox --------------------------------------------------------------

    def pending_events(self, limit: int = 500) -> list[LabelEvent]:
        query = (
            select(
                label_events.c.id,
                label_events.c.alert_id,
                label_events.c.label,
                label_events.c.labellers,
                label_events.c.votes,
                label_events.c.created_at,
            )
            .where(label_events.c.published_at.is_(None))
            .order_by(label_events.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [LabelEvent(*r) for r in conn.execute(query)]

    def mark_published(self, ids: Sequence[int]) -> None:
        if ids:
            with self.engine.begin() as conn:
                conn.execute(
                    update(label_events).where(label_events.c.id.in_(list(ids))).values(published_at=now_ms())
                )
