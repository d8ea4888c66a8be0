"""The small JSON API for scripts and the retraining job (documented in the README).

    POST /api/login    {"username", "password"} -> {"token", "csrf", "role"}
    GET  /api/queue    ?limit=N (1-100)          -> {"alerts": [...], "done", "left"}
    POST /api/vote     {"alert_id", "label"}     -> {"status", "label"}
    POST /api/undo                               -> {"alert_id"}
    GET  /api/export   ?after=ID&limit=N (admin) -> {"labels": [...], "next_after"}
    GET  /api/packet   ?alert=ID                 -> the packet bytes

Send the token as `Authorization: Bearer TOKEN`. Alerts and labels carry the fields of the
labels file (`rbc1000.label.export.LABEL_COLUMNS`) and a `packet_url`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rbc1000.label.auth import authenticate, start_session
from rbc1000.label.consensus import VOTE_LABELS
from rbc1000.label.export import label_row
from rbc1000.label.store import AlertView, VoteRefused
from rbc1000.label.web import PageError, app_state, check_csrf, signed_in


def _int_param(request: Request, name: str, default: int, high: int) -> int:
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        raise PageError(400, f"{name} must be an integer") from None
    return min(max(value, 1), high)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise PageError(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise PageError(400, "the body must be a JSON object")
    return body


def _packet_url(alert_id: str) -> str:
    return "/api/packet?" + urlencode({"alert": alert_id})


def _alert_json(alert: AlertView) -> dict[str, Any]:
    return {**asdict(alert), "packet_url": _packet_url(alert.alert_id)}


async def api_login(request: Request) -> Response:
    body = await _json(request)
    state = app_state(request)
    user = await run_in_threadpool(
        authenticate, state.store, str(body.get("username", "")), str(body.get("password", ""))
    )
    if user is None:
        raise PageError(401, "wrong user name or password")
    token, csrf = await run_in_threadpool(start_session, state.store, user, state.settings.session_ttl_s)
    return JSONResponse({"token": token, "csrf": csrf, "role": user.role})


async def api_queue(request: Request) -> Response:
    session, _ = signed_in(request)
    limit = _int_param(request, "limit", 10, 100)
    store = app_state(request).store
    alerts = await run_in_threadpool(store.next_alerts, session.user.id, limit)
    done, left = await run_in_threadpool(store.progress, session.user.id)
    return JSONResponse({"alerts": [_alert_json(a) for a in alerts], "done": done, "left": left})


async def api_vote(request: Request) -> Response:
    session, bearer = signed_in(request)
    check_csrf(request, session, bearer)
    body = await _json(request)
    label = str(body.get("label", ""))
    if label not in VOTE_LABELS:
        raise PageError(400, f"label is one of {', '.join(VOTE_LABELS)}")
    state = app_state(request)
    try:
        outcome = await run_in_threadpool(
            state.store.vote,
            str(body.get("alert_id", "")),
            session.user.id,
            label,
            state.settings.consensus_n,
        )
    except VoteRefused as exc:
        raise PageError(409, str(exc)) from None
    return JSONResponse({"status": outcome.status, "label": outcome.label})


async def api_undo(request: Request) -> Response:
    session, bearer = signed_in(request)
    check_csrf(request, session, bearer)
    state = app_state(request)
    alert_id = await run_in_threadpool(state.store.undo_last, session.user.id, state.settings.consensus_n)
    return JSONResponse({"alert_id": alert_id})


async def api_export(request: Request) -> Response:
    signed_in(request, admin=True)
    limit = _int_param(request, "limit", 1000, 10_000)
    rows = await run_in_threadpool(
        app_state(request).store.labelled, request.query_params.get("after", ""), limit
    )
    labels = [{**label_row(a, who), "packet_url": _packet_url(a.alert_id)} for a, who in rows]
    next_after = rows[-1][0].alert_id if len(rows) == limit else None
    return JSONResponse({"labels": labels, "next_after": next_after})


async def api_packet(request: Request) -> Response:
    signed_in(request)
    packet = await run_in_threadpool(app_state(request).store.packet, request.query_params.get("alert", ""))
    if packet is None:
        raise PageError(404, "no packet stored for this alert")
    return Response(packet, media_type="application/octet-stream")
