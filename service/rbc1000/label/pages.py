"""The server-rendered pages: login, the labelling page, the review page, the stamps.

No route takes a path parameter: alerts are named by a query parameter that is looked up
in the database and never reaches the filesystem.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from rbc1000.label.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    authenticate,
    new_token,
    same,
    start_session,
    token_hash,
)
from rbc1000.label.consensus import FINAL_LABELS, VOTE_LABELS
from rbc1000.label.stamps import SCALES, STAMP_KINDS, StampError
from rbc1000.label.store import VoteRefused
from rbc1000.label.web import PageError, app_state, form_value, page, signed_form, signed_in


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    secure = app_state(request).settings.secure_cookies
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure)


async def login_form(request: Request) -> Response:
    token = new_token()
    response = page(request, "login.html", csrf=token, error=None)
    _cookie(response, request, LOGIN_CSRF_COOKIE, token, 3600)
    return response


async def login(request: Request) -> Response:
    form = await request.form()
    if not same(form_value(form, CSRF_FIELD), request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise PageError(403, "the login form has expired: reload it and try again")
    state = app_state(request)
    user = await run_in_threadpool(
        authenticate, state.store, form_value(form, "username"), form_value(form, "password")
    )
    if user is None:
        token = new_token()
        response = page(request, "login.html", 401, csrf=token, error="wrong user name or password")
        _cookie(response, request, LOGIN_CSRF_COOKIE, token, 3600)
        return response
    session_token, _ = await run_in_threadpool(start_session, state.store, user, state.settings.session_ttl_s)
    redirect = RedirectResponse("/label", 303)
    _cookie(redirect, request, SESSION_COOKIE, session_token, state.settings.session_ttl_s)
    redirect.delete_cookie(LOGIN_CSRF_COOKIE)
    return redirect


async def logout(request: Request) -> Response:
    await signed_form(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    await run_in_threadpool(app_state(request).store.drop_session, token_hash(token))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def home(request: Request) -> Response:
    signed_in(request)
    return RedirectResponse("/label", 303)


def _label_context(request: Request, user_id: int) -> dict[str, Any]:
    state = app_state(request)
    queue = state.store.next_alerts(user_id, 1)
    alert = queue[0] if queue else None
    done, left = state.store.progress(user_id)
    problem = state.stamps.problem(alert.alert_id) if alert else None
    return {"alert": alert, "done": done, "left": left, "problem": problem}


async def label_page(request: Request) -> Response:
    session, _ = signed_in(request)
    context = await run_in_threadpool(_label_context, request, session.user.id)
    return page(
        request,
        "label.html",
        user=session.user,
        csrf=session.csrf_token,
        kinds=STAMP_KINDS,
        labels=VOTE_LABELS,
        **context,
    )


async def vote(request: Request) -> Response:
    session, form = await signed_form(request)
    label = form_value(form, "label")
    if label not in VOTE_LABELS:
        raise PageError(400, f"a vote is one of {', '.join(VOTE_LABELS)}")
    state = app_state(request)
    try:
        await run_in_threadpool(
            state.store.vote, form_value(form, "alert_id"), session.user.id, label, state.settings.consensus_n
        )
    except VoteRefused as exc:
        raise PageError(409, str(exc)) from None
    return RedirectResponse("/label", 303)


async def undo(request: Request) -> Response:
    session, _ = await signed_form(request)
    state = app_state(request)
    await run_in_threadpool(state.store.undo_last, session.user.id, state.settings.consensus_n)
    return RedirectResponse("/label", 303)


def _review_context(request: Request) -> dict[str, Any]:
    state = app_state(request)
    items = [
        (alert, state.store.votes_on(alert.alert_id), state.stamps.problem(alert.alert_id))
        for alert in state.store.review_queue()
    ]
    return {"items": items}


async def review_page(request: Request) -> Response:
    session, _ = signed_in(request, admin=True)
    context = await run_in_threadpool(_review_context, request)
    return page(
        request,
        "review.html",
        user=session.user,
        csrf=session.csrf_token,
        kinds=STAMP_KINDS,
        verdicts=FINAL_LABELS,
        **context,
    )


async def resolve(request: Request) -> Response:
    session, form = await signed_form(request, admin=True)
    label = form_value(form, "label")
    if label not in FINAL_LABELS:
        raise PageError(400, f"a verdict is one of {', '.join(FINAL_LABELS)}")
    state = app_state(request)
    try:
        await run_in_threadpool(
            state.store.vote, form_value(form, "alert_id"), session.user.id, label, 1, True
        )
    except VoteRefused as exc:
        raise PageError(409, str(exc)) from None
    return RedirectResponse("/review", 303)


async def stamp(request: Request) -> Response:
    signed_in(request)
    alert_id = request.query_params.get("alert", "")
    kind = request.query_params.get("kind", "")
    scale = SCALES.get(request.query_params.get("size", "small"))
    if kind not in STAMP_KINDS or scale is None:
        raise PageError(400, f"kind is one of {', '.join(STAMP_KINDS)}; size is small or large")
    try:
        png = await run_in_threadpool(app_state(request).stamps.png, alert_id, kind, scale)
    except StampError as exc:
        raise PageError(422, str(exc)) from None
    return Response(png, media_type="image/png", headers={"cache-control": "private, max-age=3600"})
