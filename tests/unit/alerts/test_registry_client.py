"""The schema registry client against a real HTTP server in the test: 5xx, timeouts and refused
connections are transient and retried, only 404 is an unknown schema, failures are cached
briefly, and credentials never appear in a message."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rbc1000.alerts.alert import DecodeError
from rbc1000.alerts.registry import DEFAULT_SCHEMA_DIR, SchemaRegistry, load_schema_dir
from rbc1000.alerts.registry_client import RegistryClient, RegistryOptions, redact_url, split_credentials
from rbc1000.reasons import TRANSIENT_REASONS, Reason

SECRET = "s3cr3t-pw"
SCHEMA = json.dumps(load_schema_dir(DEFAULT_SCHEMA_DIR / "lsst" / "9" / "0"))
PATH = "/schemas/ids/4242"


class _Server(http.server.ThreadingHTTPServer):
    """Answers each path with the statuses scripted for it, in order (the last one repeats)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: dict[str, list[int]] = {}
        self.seen: list[tuple[str, str | None]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        statuses = self.server.script.get(self.path, [404])
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        body = json.dumps({"schema": SCHEMA} if status == 200 else {"error_code": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _client(server: _Server, clock: Clock, sleeps: list[float], **options: object) -> RegistryClient:
    url = f"http://reader:{SECRET}@127.0.0.1:{server.server_port}/"
    return RegistryClient(RegistryOptions(url, **options), sleep=sleeps.append, clock=clock)  # type: ignore[arg-type]


def _failure(client: RegistryClient, path: str = PATH) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        client.get_json(path)
    return caught.value


def test_503_then_200_is_retried_with_backoff_and_answers(server: _Server) -> None:
    server.script[PATH] = [503, 503, 200]
    sleeps: list[float] = []
    client = _client(server, Clock(), sleeps, attempts=3, backoff_s=0.25)
    assert json.loads(client.get_json(PATH)["schema"]) == json.loads(SCHEMA)
    assert [p for p, _ in server.seen] == [PATH] * 3
    assert sleeps == [0.25, 0.5]  # doubling, and no sleep after the answer


def test_5xx_past_the_attempts_is_transient_and_cached_for_the_backoff_window(server: _Server) -> None:
    server.script[PATH] = [500]
    clock, sleeps = Clock(), list[float]()
    client = _client(server, clock, sleeps, attempts=2, backoff_s=1.0)
    error = _failure(client)
    assert error.reason == Reason.REGISTRY_UNAVAILABLE and error.reason in TRANSIENT_REASONS
    assert len(server.seen) == 2
    clock.now = 1.5  # inside the last backoff interval (2 s): answered from the cache
    assert _failure(client).reason == Reason.REGISTRY_UNAVAILABLE and len(server.seen) == 2
    clock.now = 2.5  # past it: the registry is asked again
    server.script[PATH] = [200]
    assert "schema" in client.get_json(PATH) and len(server.seen) == 3


def test_only_404_is_an_unknown_schema_and_it_is_cached_for_its_ttl(server: _Server) -> None:
    server.script[PATH] = [404]
    clock, sleeps = Clock(), list[float]()
    client = _client(server, clock, sleeps, unknown_ttl_s=60.0)
    for _ in range(5):
        assert _failure(client).reason == Reason.UNKNOWN_SCHEMA
    assert len(server.seen) == 1 and sleeps == []  # one request, no retry
    clock.now = 61.0
    assert _failure(client).reason == Reason.UNKNOWN_SCHEMA and len(server.seen) == 2


@pytest.mark.parametrize("status", [401, 403, 429, 502, 503, 504])
def test_other_statuses_are_transient_not_unknown(server: _Server, status: int) -> None:
    server.script[PATH] = [status]
    client = _client(server, Clock(), [], attempts=2)
    assert _failure(client).reason == Reason.REGISTRY_UNAVAILABLE
    assert len(server.seen) == 2


def test_a_registry_that_never_answers_times_out_as_transient() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://u:{SECRET}@127.0.0.1:{silent.getsockname()[1]}"
        client = RegistryClient(RegistryOptions(url, timeout_s=0.2, attempts=2), sleep=lambda _s: None)
        error = _failure(client)
    assert error.reason == Reason.REGISTRY_UNAVAILABLE and "timed out" in error.detail
    assert client.requests == 2 and SECRET not in str(error)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{",
        b"NOT HTTP\r\n\r\n",
        b"",
        b"HTTP/1.1 200 OK\r\n\r\n[1]",
    ],
)
def test_a_broken_answer_is_transient(answer: bytes) -> None:
    """A truncated body, a bad status line, a closed connection or a non-object body."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)

        def answer_badly() -> None:
            for _ in range(2):
                conn, _ = listener.accept()
                with conn:
                    conn.recv(4096)
                    conn.sendall(answer)

        threading.Thread(target=answer_badly, daemon=True).start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        client = RegistryClient(RegistryOptions(url, attempts=2), sleep=lambda _s: None)
        assert _failure(client).reason == Reason.REGISTRY_UNAVAILABLE and client.requests == 2


def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens
    client = RegistryClient(RegistryOptions(f"http://127.0.0.1:{port}", attempts=3), sleep=lambda _s: None)
    assert _failure(client).reason == Reason.REGISTRY_UNAVAILABLE and client.requests == 3


def test_credentials_go_in_the_header_and_nowhere_else(
    server: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = {PATH: [503, 200], "/schemas/ids/1": [404], "/schemas/ids/2": [500]}
    client = _client(server, Clock(), [], attempts=2)
    client.get_json(PATH)
    errors = [_failure(client, "/schemas/ids/1"), _failure(client, "/schemas/ids/2")]
    expected = "Basic " + base64.b64encode(f"reader:{SECRET}".encode()).decode()
    assert {auth for _, auth in server.seen} == {expected}
    shown = " ".join(
        [*(str(e) for e in errors), *(e.detail for e in errors), caplog.text, repr(client.options)]
    )
    assert SECRET not in shown and "reader:" not in shown
    assert f"http://127.0.0.1:{server.server_port}/schemas/ids/1" in errors[0].detail  # still says where


def test_a_token_is_sent_as_bearer(server: _Server) -> None:
    server.script[PATH] = [200]
    client = RegistryClient(RegistryOptions(f"http://127.0.0.1:{server.server_port}", token=SECRET))
    client.get_json(PATH)
    assert server.seen == [(PATH, f"Bearer {SECRET}")]


def test_schema_registry_resolves_after_a_503_and_keeps_the_schema(server: _Server, tmp_path: Path) -> None:
    server.script[PATH] = [503, 200]
    options = RegistryOptions(f"http://127.0.0.1:{server.server_port}", backoff_s=0.01)
    registry = SchemaRegistry(tmp_path, options)  # an empty local directory: ask the registry
    assert registry.get(4242)["name"] == json.loads(SCHEMA)["name"]
    assert registry.get(4242) is registry.get(4242) and len(server.seen) == 2


def test_urls_are_redacted_and_taken_apart() -> None:
    assert redact_url("https://me:p%40ss@reg.example:8081/api?token=abc&x=1") == (
        "https://***@reg.example:8081/api?token=***&x=1"
    )
    assert redact_url("http://reg:8081/") == "http://reg:8081/"
    assert split_credentials("https://me:p%40ss@reg.example/a") == ("https://reg.example/a", "me", "p@ss")
    assert split_credentials("https://reg.example/a") == ("https://reg.example/a", None, None)
    assert str(RegistryOptions.of(f"http://u:{SECRET}@h:1/")) == "http://h:1"
