"""Accounts, sessions and CSRF for the labelling app.

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed on login when those
change). A session is a random token: the browser holds it in an HttpOnly, SameSite=Strict
cookie, scripts send it as `Authorization: Bearer TOKEN` (from `POST /api/login`); the
database keeps only its SHA-256. Each session has a CSRF token that every state-changing
request made with the cookie must echo (form field `csrf` or header `X-CSRF-Token`). Bearer
requests need none: a browser never attaches that header on its own. The login form, made
before any session exists, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request

from rbc1000.label.accounts_store import Session, User
from rbc1000.label.store import Store, now_ms

Role = Literal["labeller", "admin"]
ROLES: tuple[Role, ...] = ("labeller", "admin")
SESSION_COOKIE = "rbc_session"
LOGIN_CSRF_COOKIE = "rbc_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MIN_PASSWORD = 8
_HASHER = PasswordHasher()
# Compared against when the user does not exist, so both paths take an argon2 verify.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class AccountError(ValueError):
    """An account that cannot be created or changed as asked."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens; False when either is missing."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"passwords have at least {MIN_PASSWORD} characters")


def add_user(store: Store, username: str, password: str, role: str) -> int:
    """Create an account; AccountError for a bad name, short password, unknown role or taken name."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {ROLES}")
    if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").isalnum():
        raise AccountError("user names are 1-64 letters, digits, - or _")
    _check_password(password)
    try:
        return store.add_user(username, _HASHER.hash(password), role, now_ms())
    except IntegrityError:
        raise AccountError(f"user {username} exists") from None


def _existing(store: Store, username: str) -> User:
    user = store.user_by_name(username)
    if user is None:
        raise AccountError(f"no user {username}")
    return user


def change_password(store: Store, username: str, password: str) -> None:
    """Set a new password and end the account's sessions, so an old login cannot go on."""
    _check_password(password)
    user = _existing(store, username)
    store.set_password(user.id, _HASHER.hash(password))
    store.drop_user_sessions(user.id)


def set_active(store: Store, username: str, active: bool) -> None:
    """Deactivate (no login, sessions ended, votes kept) or reactivate an account."""
    store.set_active(_existing(store, username).id, active)


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The active user with this password, or None."""
    user = store.user_by_name(username)
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        store.set_password(user.id, _HASHER.hash(password))
    return user


def start_session(store: Store, user: User, ttl_s: int) -> tuple[str, str]:
    """A new session for `user`: (token for the client, its CSRF token)."""
    token, csrf = new_token(), new_token()
    now = now_ms()
    store.drop_expired_sessions(now)
    store.add_session(token_hash(token), user.id, csrf, now, now + ttl_s * 1000)
    return token, csrf


def request_token(request: Request) -> tuple[str | None, bool]:
    """(session token, whether it came as a bearer header rather than the cookie)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), True
    return request.cookies.get(SESSION_COOKIE), False


def request_session(store: Store, request: Request) -> tuple[Session | None, bool]:
    """The live session of a request, and whether it is a bearer session."""
    token, bearer = request_token(request)
    if not token:
        return None, bearer
    return store.session(token_hash(token), now_ms()), bearer
