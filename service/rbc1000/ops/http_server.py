"""A small HTTP server with a fixed number of worker threads and a per-connection timeout.

`http.server.ThreadingHTTPServer` starts a thread per connection and waits on a client for as
long as it keeps the socket open, so idle or half-sent requests pile up threads without bound
(361 such connections held 371 threads). Here a fixed pool of daemon threads serves
connections from a bounded queue, every socket read or write times out after `timeout_s`,
and a connection arriving while the queue is full is closed at once: the server's memory and
thread count stay bounded whatever clients do.
"""

from __future__ import annotations

import logging
import queue
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

log = logging.getLogger(__name__)

# Connections accepted but not yet picked up by a worker, per worker thread.
QUEUED_PER_THREAD = 8


class BoundedHTTPServer(HTTPServer):
    """`HTTPServer` served by `threads` daemon workers; connections time out after `timeout_s`."""

    # The kernel's accept backlog: the accept loop drains it at once, so a burst of clients
    # is taken and queued or refused rather than left retrying their SYN.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        timeout_s: float = 10.0,
        threads: int = 4,
    ) -> None:
        if timeout_s <= 0 or threads < 1:
            raise ValueError("timeout_s must be > 0 and threads >= 1")
        # The handler applies its class attribute `timeout` to each connection's socket.
        handler = type(handler.__name__, (handler,), {"timeout": timeout_s})
        super().__init__(address, handler)
        self.timeout_s = timeout_s
        self.accepted = 0
        self.rejected = 0
        self._queue: queue.Queue[tuple[Any, Any] | None] = queue.Queue(maxsize=threads * QUEUED_PER_THREAD)
        self._workers = [
            threading.Thread(target=self._work, name=f"rbc-http-{i}", daemon=True) for i in range(threads)
        ]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Queue the connection for a worker, or close it when the queue is full."""
        self.accepted += 1
        try:
            self._queue.put_nowait((request, client_address))
        except queue.Full:
            self.rejected += 1
            self.shutdown_request(request)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:  # a client that vanished mid-answer: nothing to tell it
                log.debug("http_request_failed client=%s", client_address[0], exc_info=True)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("http_request_failed client=%s", client_address[0], exc_info=True)

    def server_close(self) -> None:
        """Close the listening socket and the connections still queued; stop the workers."""
        super().server_close()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.shutdown_request(item[0])
        for _ in self._workers:
            try:
                self._queue.put_nowait(None)
            except queue.Full:  # filled again meanwhile: the workers are daemons, leave them
                return
        for worker in self._workers:  # each ends after its connection, within the timeout
            worker.join(timeout=self.timeout_s + 1)

    def worker_count(self) -> int:
        """Worker threads alive (a fixed number while the server runs)."""
        return sum(w.is_alive() for w in self._workers)
