"""The run loop with a real HTTP schema registry in the test: a registry answering 503 stops the
loop with nothing dead-lettered or committed; only a 404 dead-letters, and no credential of
the registry URL reaches the dead letter."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rbc1000.alerts.native import make_batch_decoder
from rbc1000.model.scoring import Scorer
from rbc1000.stream.loop import TransientError
from tests.support.kafka_fakes import FakeSink, FakeSource, header, messages, processor, vendored

SECRET = "s3cr3t-pw"
FRAME = b"\x00" + (4242).to_bytes(4, "big") + b"body"  # Confluent frame, an id no directory has


class _Registry(http.server.ThreadingHTTPServer):
    daemon_threads = True
    status = 503
    requests = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Registry

    def do_GET(self) -> None:
        self.server.requests += 1
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[_Registry]:
    server = _Registry(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _url(registry: _Registry) -> str:
    return f"http://reader:{SECRET}@127.0.0.1:{registry.server_port}"


def test_a_registry_answering_503_stops_the_loop_without_dead_letter_or_commit(
    scorer: Scorer, registry: _Registry, tmp_path: Path
) -> None:
    source, sink = FakeSource.of(messages([vendored("fink-broker__*")[0], FRAME])), FakeSink()
    decoder = make_batch_decoder("auto", tmp_path, _url(registry))
    with pytest.raises(TransientError, match="registry_unavailable") as caught:
        processor(source, sink, scorer, decoder=decoder).run()
    assert sink.on("rbc.dead-letter") == [] and source.commit_calls == []
    assert registry.requests == 3  # the default attempts, then the stop
    assert SECRET not in str(caught.value)


def test_only_a_404_dead_letters_as_unknown_schema_without_the_credentials(
    scorer: Scorer, registry: _Registry, tmp_path: Path
) -> None:
    registry.status = 404
    source, sink = FakeSource.of(messages([FRAME, FRAME, FRAME])), FakeSink()
    decoder = make_batch_decoder("auto", tmp_path, _url(registry))
    processor(source, sink, scorer, decoder=decoder).run()
    letters = sink.on("rbc.dead-letter")
    assert [header(r, "rbc.error.reason") for r in letters] == ["unknown_schema"] * 3
    assert all(SECRET not in str(r.headers) for r in letters)
    assert registry.requests == 1  # the 404 is cached: one request for three messages
    assert sum(source.committed.values()) == 3
