"""HTTP endpoints for operators: `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (ready).

The run loop owns a `HealthState` and updates it (broker connected, partitions assigned,
model loaded, a heartbeat per loop turn); `HealthServer` serves it from a daemon thread.
A loop that nothing serves gets a `NullHealth`, so it never tests for None.

- `/healthz` answers 200 while the process runs and, when `stall_after_s` is set, while the
  run loop has beaten within that many seconds (a wedged loop then fails its liveness probe);
  otherwise 503.
- `/readyz` answers 200 only when connected, at least one partition is assigned and a model is
  loaded; otherwise 503 with the missing conditions in the body.
- `/metrics` is the Prometheus text exposition of the registry given.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from rbc1000.ops.http_server import BoundedHTTPServer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Readiness:
    """A snapshot of the conditions `/readyz` checks."""

    connected: bool
    partitions: int
    model_loaded: bool

    @property
    def ready(self) -> bool:
        return self.connected and self.partitions > 0 and self.model_loaded

    def missing(self) -> list[str]:
        """Names of the conditions not met, for the /readyz body."""
        checks = {
            "connected": self.connected,
            "partitions_assigned": self.partitions > 0,
            "model_loaded": self.model_loaded,
        }
        return [name for name, ok in checks.items() if not ok]


class HealthState:
    """Thread-safe state the run loop updates and the HTTP thread reads."""

    def __init__(
        self,
        stall_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] = lambda _ready: None,
    ) -> None:
        self._lock = threading.Lock()
        self._connected = False
        self._partitions = 0
        self._model_loaded = False
        self._stall_after_s = stall_after_s
        self._clock = clock
        self._last_beat = clock()
        self._on_change = on_change

    def set_connected(self, connected: bool) -> None:
        """Whether the client can talk to the broker."""
        with self._lock:
            self._connected = connected
        self._notify()

    def set_partitions(self, count: int) -> None:
        """How many input partitions this consumer owns now."""
        with self._lock:
            self._partitions = max(count, 0)
        self._notify()

    def set_model_loaded(self, loaded: bool) -> None:
        """Whether a validated model is in place."""
        with self._lock:
            self._model_loaded = loaded
        self._notify()

    def beat(self) -> None:
        """Called once per run-loop turn, so /healthz can tell a live loop from a wedged one."""
        with self._lock:
            self._last_beat = self._clock()

    def readiness(self) -> Readiness:
        with self._lock:
            return Readiness(self._connected, self._partitions, self._model_loaded)

    def alive(self) -> bool:
        if self._stall_after_s is None:
            return True
        with self._lock:
            return self._clock() - self._last_beat <= self._stall_after_s

    def _notify(self) -> None:
        self._on_change(self.readiness().ready)


class NullHealth(HealthState):
    """The null object for a loop that no /healthz or /readyz serves (tests, benchmarks).

    It keeps the state like any `HealthState` (no stall limit, no change callback); nobody
    reads it, so the loop updates it without testing for None.
    """

    def __init__(self) -> None:
        super().__init__()


class HealthServer:
    """Serves /metrics, /healthz and /readyz on `host:port` from a daemon thread (port 0: any).

    Loopback unless told otherwise (a container sets `metrics_host` 0.0.0.0 itself), with
    `threads` workers and a `timeout_s` per connection (`rbc1000.ops.http_server`), so idle
    clients cannot grow the process's threads.
    """

    def __init__(
        self,
        state: HealthState,
        registry: CollectorRegistry,
        host: str = "127.0.0.1",
        port: int = 9108,
        timeout_s: float = 10.0,
        threads: int = 4,
    ) -> None:
        handler = _make_handler(state, registry)
        self._server = BoundedHTTPServer((host, port), handler, timeout_s, threads)
        self._thread = threading.Thread(target=self._server.serve_forever, name="rbc-health", daemon=True)

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 was asked for)."""
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health_server_started host=%s port=%d", self._server.server_address[0], self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_handler(state: HealthState, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/healthz":
                ok = state.alive()
                self._send_json(200 if ok else 503, {"alive": ok})
            elif path == "/readyz":
                r = state.readiness()
                self._send_json(
                    200 if r.ready else 503,
                    {"ready": r.ready, "missing": r.missing(), "partitions": r.partitions},
                )
            else:
                self._send_json(404, {"error": "try /metrics, /healthz or /readyz"})

        def _send_json(self, code: int, body: dict[str, object]) -> None:
            self._send(code, "application/json", json.dumps(body).encode())

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Probes hit these endpoints every few seconds: keep them out of the service log.
            return

    return Handler
