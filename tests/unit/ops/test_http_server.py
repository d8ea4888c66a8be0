"""The metrics and health server under idle clients: loopback by default, a fixed number of
threads however many connections sit idle, and idle connections closed after the timeout."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

from prometheus_client import CollectorRegistry

from rbc1000.ops.health import HealthServer, HealthState
from rbc1000.ops.settings import ServeSettings

IDLE_CONNECTIONS = 200  # more than workers plus queue: some are refused at once


def _http_threads() -> int:
    """The server's own threads (workers and accept loop), by name: other tests' leftover
    threads may still be ending, so the process-wide count would not say what this one did."""
    return sum(t.name.startswith(("rbc-http-", "rbc-health")) for t in threading.enumerate())


def _half_sent(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line that ends it
    sock.settimeout(60)  # a bound for a broken server, not a measurement
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed `sock` without answering (EOF or reset, no status line)."""
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def test_it_binds_loopback_unless_configured() -> None:
    assert ServeSettings(input_topics=["in"]).metrics_host == "127.0.0.1"
    with HealthServer(HealthState(), CollectorRegistry(), port=0) as server:
        assert server._server.server_address[0] == "127.0.0.1"


def test_idle_connections_neither_grow_threads_nor_stay_open() -> None:
    with HealthServer(HealthState(), CollectorRegistry(), port=0, timeout_s=0.5, threads=3) as server:
        assert _http_threads() == 4  # 3 workers and the accept loop
        idle = [_half_sent(server.port) for _ in range(IDLE_CONNECTIONS)]
        while server._server.accepted < IDLE_CONNECTIONS:  # the accept loop has taken them all
            time.sleep(0.01)
        assert _http_threads() == 4
        assert server._server.rejected > 0  # more than the queue holds: closed at once
        assert all(_closed_by_server(sock) for sock in idle)  # the others after their timeout
        for sock in idle:
            sock.close()
        assert _http_threads() == 4
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=60) as answer:
            assert answer.status == 200


def test_a_stopped_server_leaves_no_worker_behind() -> None:
    with HealthServer(HealthState(), CollectorRegistry(), port=0, threads=2) as server:
        port = server.port
    workers = [t for t in threading.enumerate() if t.name.startswith("rbc-http-")]
    for worker in workers:
        worker.join(timeout=10)
    assert not any(w.is_alive() for w in workers)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
