"""What every route of the labelling app shares: its state, page rendering, and the guards.

Pages are Jinja2 templates with autoescaping on for every template: alert fields come from
the stream and are never trusted. Each page gets a fresh CSP nonce; only the inline style
and script that carry it run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from rbc1000.label.accounts_store import Session
from rbc1000.label.auth import CSRF_FIELD, CSRF_HEADER, request_session, same
from rbc1000.label.settings import LabelSettings
from rbc1000.label.stamps import StampSource
from rbc1000.label.store import Store
from rbc1000.stream.records import iso_utc

TEMPLATES = Path(__file__).parent / "templates"


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["utc"] = lambda ms: "" if ms is None else iso_utc(int(ms))
    env.filters["num"] = lambda x, fmt="{:.3f}": "–" if x is None else fmt.format(x)
    return env


@dataclass
class AppState:
    """Built once at start and reached from each request as `request.app.state.label`."""

    settings: LabelSettings
    store: Store
    stamps: StampSource
    env: Environment


class LoginRequired(Exception):
    """No live session: pages redirect to the login form, the API answers 401."""


class PageError(Exception):
    """A request that cannot be served; shown as the error page (or JSON for the API)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.label
    return state


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a template with a fresh CSP nonce and the security headers that go with it."""
    nonce = secrets.token_urlsafe(16)
    html = app_state(request).env.get_template(name).render(nonce=nonce, **context)
    response = HTMLResponse(html, status)
    response.headers["content-security-policy"] = (
        f"default-src 'none'; img-src 'self'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["cache-control"] = "no-store"
    return response


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def on_login_required(request: Request, _exc: Exception) -> Response:
    if is_api(request):
        return JSONResponse({"error": "login required"}, 401)
    return RedirectResponse("/login", 303)


def on_page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    if is_api(request):
        return JSONResponse({"error": exc.message}, exc.status)
    return page(request, "error.html", exc.status, message=exc.message, code=exc.status)


def signed_in(request: Request, admin: bool = False) -> tuple[Session, bool]:
    """The request's session and whether it is a bearer one; raises when there is none."""
    session, bearer = request_session(app_state(request).store, request)
    if session is None:
        raise LoginRequired()
    if admin and session.user.role != "admin":
        raise PageError(403, "this page is for admins")
    return session, bearer


def check_csrf(request: Request, session: Session, bearer: bool, form_token: str | None = None) -> None:
    """Refuse a cookie-authenticated change that does not echo the session's CSRF token."""
    if bearer:
        return
    sent = form_token if form_token is not None else request.headers.get(CSRF_HEADER)
    if not same(sent, session.csrf_token):
        raise PageError(403, "the form has expired or did not come from this site: reload and try again")


async def signed_form(request: Request, admin: bool = False) -> tuple[Session, FormData]:
    """The session and the posted form of a state-changing request, its CSRF token checked."""
    session, bearer = signed_in(request, admin)
    form = await request.form()
    check_csrf(request, session, bearer, form_value(form, CSRF_FIELD))
    return session, form


def form_value(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
