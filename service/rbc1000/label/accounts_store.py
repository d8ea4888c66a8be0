"""The accounts half of the data-access layer: users and sessions (see `rbc1000.label.store`).

Only hashes are stored: the password's argon2 hash and the SHA-256 of each session token,
so a copy of the database lets nobody log in.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, update

from rbc1000.label.tables import sessions, users


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: str
    active: bool
    password_hash: str


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf_token: str
    expires_at: int


_USER_COLUMNS = (users.c.id, users.c.username, users.c.role, users.c.active, users.c.password_hash)


class AccountStore:
    engine: Engine

    def add_user(self, username: str, password_hash: str, role: str, created_at: int) -> int:
        """A new account; raises sqlalchemy's IntegrityError when the name is taken."""
        with self.engine.begin() as conn:
            result = conn.execute(
                users.insert().values(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    active=True,
                    created_at=created_at,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def set_password(self, user_id: int, password_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))

    def set_active(self, user_id: int, active: bool) -> None:
        """(De)activate an account; deactivating also ends its sessions. Its votes stay."""
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(active=active))
            if not active:
                conn.execute(delete(sessions).where(sessions.c.user_id == user_id))

    def drop_user_sessions(self, user_id: int) -> None:
        """End every session of an account (after a password change, say)."""
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.user_id == user_id))

    def user_by_name(self, username: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_USER_COLUMNS).where(users.c.username == username)).first()
        return None if row is None else User(int(row[0]), row[1], row[2], bool(row[3]), row[4])

    def add_session(
        self, token_hash: str, user_id: int, csrf_token: str, created_at: int, expires_at: int
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sessions.insert().values(
                    token_hash=token_hash,
                    user_id=user_id,
                    csrf_token=csrf_token,
                    created_at=created_at,
                    expires_at=expires_at,
                )
            )

    def session(self, token_hash: str, now: int) -> Session | None:
        """The live session of a token hash, with its active user; None when expired or unknown."""
        query = (
            select(*_USER_COLUMNS, sessions.c.csrf_token, sessions.c.expires_at)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now, users.c.active)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Session(User(int(row[0]), row[1], row[2], bool(row[3]), row[4]), row[5], int(row[6]))

    def drop_session(self, token_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))

    def drop_expired_sessions(self, now: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
