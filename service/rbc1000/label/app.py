"""`rbc label serve`'s ASGI application: routes, security headers, and the background work.

While it serves, two threads run beside the web server when enabled in the settings: the
ingest (labelling topic -> database, its own consumer group) and the publisher (outbox ->
labels topic). Both stop, and the publisher flushes once more, when the server stops.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rbc1000.alerts.framing import RecordFramer
from rbc1000.label import api, pages
from rbc1000.label.ingest import Ingester, run_ingest
from rbc1000.label.publish import prepare_labels_framer, run_publisher
from rbc1000.label.settings import LabelSettings
from rbc1000.label.stamps import StampSource
from rbc1000.label.store import Store
from rbc1000.label.web import (
    AppState,
    LoginRequired,
    PageError,
    make_environment,
    on_login_required,
    on_page_error,
)

MAX_BODY_BYTES = 1024 * 1024
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]

ROUTES = [
    Route("/", pages.home),
    Route("/login", pages.login_form, methods=["GET"]),
    Route("/login", pages.login, methods=["POST"]),
    Route("/logout", pages.logout, methods=["POST"]),
    Route("/label", pages.label_page, methods=["GET"]),
    Route("/vote", pages.vote, methods=["POST"]),
    Route("/undo", pages.undo, methods=["POST"]),
    Route("/review", pages.review_page, methods=["GET"]),
    Route("/review", pages.resolve, methods=["POST"]),
    Route("/stamp", pages.stamp, methods=["GET"]),
    Route("/api/login", api.api_login, methods=["POST"]),
    Route("/api/queue", api.api_queue, methods=["GET"]),
    Route("/api/vote", api.api_vote, methods=["POST"]),
    Route("/api/undo", api.api_undo, methods=["POST"]),
    Route("/api/export", api.api_export, methods=["GET"]),
    Route("/api/packet", api.api_packet, methods=["GET"]),
]


class SecurityHeaders:
    """Adds headers every response should carry (pages add their CSP themselves)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


def _workers(
    settings: LabelSettings, store: Store, stop: threading.Event, framer: RecordFramer | None
) -> list[threading.Thread]:
    from rbc1000.stream.kafka_io import KafkaConsumer, KafkaProducer

    threads: list[threading.Thread] = []
    client = settings.kafka.client_config()
    if settings.ingest:
        ingester = Ingester(store, settings.queue_threshold(), settings.max_packet_bytes)
        consumer = KafkaConsumer(client, settings.ingest_group_id)
        args: tuple[Any, ...] = (ingester, consumer, settings.labelling_topic, settings.ingest_batch, stop)
        threads.append(threading.Thread(target=run_ingest, args=args, name="label-ingest", daemon=True))
    if settings.publish:
        producer = KafkaProducer(client)
        args = (store, producer, settings.labels_topic, settings.consensus_n)
        args += (settings.flush_timeout_s, settings.publish_interval_s, stop, framer)
        threads.append(threading.Thread(target=run_publisher, args=args, name="label-publish", daemon=True))
    return threads


def _lifespan(
    settings: LabelSettings, store: Store, framer: RecordFramer | None
) -> Callable[[Starlette], Any]:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        threads = _workers(settings, store, stop, framer)
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(settings.flush_timeout_s + 5)

    return lifespan


def create_app(settings: LabelSettings, store: Store | None = None) -> Starlette:
    """The labelling app over `store` (default: the database of `settings.database_url`).

    With the registry framing the labels schema is registered here, before the server starts:
    `RegistrationError` when the registry refuses it.
    """
    framer = prepare_labels_framer(settings) if settings.publish else None
    store = store or Store.open(settings.database_url)
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={LoginRequired: on_login_required, PageError: on_page_error},
        lifespan=_lifespan(settings, store, framer),
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.label = AppState(
        settings, store, StampSource(store, settings.max_packet_bytes), make_environment()
    )
    return app
