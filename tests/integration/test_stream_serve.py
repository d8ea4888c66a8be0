"""`rbc serve` against the real broker: real alerts replayed with `rbc replay` (ZTF-style
containers and Rubin-style Confluent frames), plus a corrupt message and a tombstone, give
exactly the expected scored, labelling and dead-letter records; SIGTERM drains and commits."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.model.decisions import ScoredAlert, score_batch
from rbc1000.model.scoring import Scorer
from rbc1000.stream.records import decode_kafka
from rbc1000.stream.replay import framing_schema, iter_outgoing
from tests.integration.ops_support import ROOT, header, wait_for
from tests.integration.stream_helpers import (
    committed,
    count,
    high_watermarks,
    read_all,
    sources,
    stopped_stats,
)
from tests.integration.stream_setup import StreamTopics, start_serve
from tests.support.model_factory import write_tiny_model

LSST_SCHEMA_ID = 900
CORRUPT = b"\x00\x00\x00\x03\xe7 this claims schema 999 and is not Avro"


@dataclass
class Expected:
    """What the inputs must produce, computed offline with the same decoder and model."""

    alert_ids: set[str]
    scored: int
    uncertain: int
    missing_cutouts: int


@dataclass
class Run:
    topics: StreamTopics
    expected: Expected
    scored: list[Any]
    labelling: list[Any]
    dead: list[Any]
    exit_code: int
    log: str


def rbc_replay(bootstrap: str, topic: str, *args: str) -> None:
    rbc = Path(sys.executable).parent / "rbc"
    done = subprocess.run(
        [str(rbc), "replay", *args, "--topic", topic, "--bootstrap", bootstrap, "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def expected_outputs(packets: list[bytes], model: Path) -> Expected:
    decoder, scorer = Decoder(), Scorer.load(model, "cpu")
    results = [r for p in packets for r in decoder.decode(p)]
    outcomes = score_batch(results, scorer, limiter=None)
    scored = [o for o in outcomes if isinstance(o, ScoredAlert)]
    missing = sum(isinstance(r, Alert) and not r.cutouts.complete for r in results)
    return Expected(
        {str(o.alert.alert_id) for o in scored},
        len(scored),
        sum(o.decision == "uncertain" for o in scored),
        missing,
    )


@pytest.fixture(scope="module")
def run(bootstrap: str, vendored_alerts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("stream-serve")
    model = write_tiny_model(tmp / "tiny.onnx")
    topics = StreamTopics.create(bootstrap, "serve", partitions=3)
    lsst = sorted(vendored_alerts.glob("lsst-real__*.avro"))
    frames = [
        o.value for o in iter_outgoing(lsst, "confluent", LSST_SCHEMA_ID, framing_schema(LSST_SCHEMA_ID))
    ]
    containers = [p.read_bytes() for p in sorted(vendored_alerts.glob("*.avro"))]
    expected = expected_outputs(containers + frames, model)
    serve = start_serve(bootstrap, topics, model, tmp / "serve.log")
    try:
        rbc_replay(bootstrap, topics.input, str(vendored_alerts))
        rbc_replay(
            bootstrap,
            topics.input,
            *map(str, lsst),
            "--framing",
            "confluent",
            "--schema-id",
            str(LSST_SCHEMA_ID),
        )
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce(topics.input, CORRUPT, key=b"corrupt")
        producer.produce(topics.input, None, key=b"tombstone")
        assert producer.flush(30) == 0
        want_dead = expected.missing_cutouts + 2
        wait_for(
            lambda: (
                count(bootstrap, topics.scored) >= expected.scored
                and count(bootstrap, topics.dead) >= want_dead
            ),
            120,
            "all outputs",
        )
    finally:
        exit_code = serve.stop()
    yield Run(
        topics,
        expected,
        read_all(bootstrap, topics.scored),
        read_all(bootstrap, topics.labelling),
        read_all(bootstrap, topics.dead),
        exit_code,
        serve.log_path.read_text(errors="replace"),
    )


def test_exact_scored_labelling_and_dead_letter_counts(run: Run) -> None:
    assert len(run.scored) == run.expected.scored
    assert len(run.labelling) == run.expected.uncertain > 0
    assert len(run.dead) == run.expected.missing_cutouts + 2


def test_every_input_alert_id_is_in_the_scored_topic(run: Run) -> None:
    ids = {decode_kafka(m.value())["alert_id"] for m in run.scored}
    assert ids == run.expected.alert_ids
    surveys = {decode_kafka(m.value())["survey"] for m in run.scored}
    assert surveys == {"ztf", "lsst"}  # containers and Confluent frames both decoded


def test_scored_records_are_keyed_by_object_and_carry_the_packet(run: Run) -> None:
    for m in run.scored:
        body = decode_kafka(m.value())
        assert m.key() == body["object_id"].encode()
        assert body["alert_packet"]
        assert body["model_name"] == "rbc-tiny-test"


def test_dead_letters_keep_bytes_reason_and_source(run: Run, bootstrap: str) -> None:
    reasons = sorted(header(m, "rbc.error.reason") or "" for m in run.dead)
    assert reasons.count("missing_cutouts") == run.expected.missing_cutouts
    assert "empty_message" in reasons
    corrupt = [m for m in run.dead if m.key() == b"corrupt"]
    assert len(corrupt) == 1 and corrupt[0].value() == CORRUPT
    assert header(corrupt[0], "rbc.error.reason") == "unknown_schema"
    highs = high_watermarks(bootstrap, run.topics.input)
    for m in run.dead:
        assert header(m, "rbc.source.topic") == run.topics.input
    assert len(sources(run.dead)) == len(run.dead)  # each from its own input message
    for partition, offset in sources(run.dead):
        assert 0 <= offset < highs[partition]


def test_sigterm_drains_and_commits_everything(run: Run, bootstrap: str) -> None:
    assert run.exit_code == 0, run.log[-3000:]
    assert committed(bootstrap, run.topics.group, run.topics.input) == high_watermarks(
        bootstrap, run.topics.input
    )
    stats = stopped_stats(run.log)
    assert stats["scored"] == run.expected.scored
