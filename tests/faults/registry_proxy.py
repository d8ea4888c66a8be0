"""A fault injector in front of the real schema registry: it answers HTTP 503 while told to
fail and forwards every request unchanged otherwise, as a load balancer in front of a
restarting registry does."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultyRegistry:
    """Serves on a loopback port; `url` replaces the registry's URL in the service's settings."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.failing = True
        self.requests = 0
        self.answered_503 = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, name="faulty-registry", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _forward(self, path: str) -> tuple[int, bytes, str]:
        try:
            with urllib.request.urlopen(self.upstream + path, timeout=10) as response:
                return int(response.status), response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read(), exc.headers.get("Content-Type", "")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.requests += 1
                if proxy.failing:
                    proxy.answered_503 += 1
                    status, body, kind = (
                        503,
                        b'{"error_code": 50301, "message": "unavailable"}',
                        "application/json",
                    )
                else:
                    status, body, kind = proxy._forward(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the case reports the counts."""

        return Handler
