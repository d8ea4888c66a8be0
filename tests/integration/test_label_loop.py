"""The labelling loop end to end, every stage a real process on the real broker.

Real alerts replayed with `rbc replay` -> `rbc serve` with a tiny model whose low-confidence
band is all of [0, 1], so every scored alert goes to the labelling topic -> `rbc label serve`
(its own consumer group) stores each alert once -> a script votes through the JSON API over
HTTP (one vote undone and changed, one unsure, one skip) -> the labels topic carries the
latest label per alert id -> `rbc label export` -> `rbc-train dataset-info` reads the export
with exactly the labels cast.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rbc1000.alerts.decoding import Decoder
from rbc1000.label.publish import decode_label
from rbc1000.model.decisions import ScoredAlert, score_batch
from rbc1000.model.scoring import Scorer
from rbc1000.stream.records import decode_kafka
from tests.integration.ops_support import ROOT, create_topic, free_port, unique, wait_for
from tests.integration.stream_helpers import committed, count, high_watermarks, read_all
from tests.integration.stream_setup import StreamTopics, start_serve
from tests.support.model_factory import tiny_info, write_tiny_model
from tests.unit.label.factory import PASSWORD

BIN = Path(sys.executable).parent
WHOLE_BAND = (0.0, 1.0)


def rbc(*argv: str, stdin: str = "", tool: str = "rbc") -> subprocess.CompletedProcess[str]:
    """Run `rbc ...` (or `rbc-train ...`) from this virtual environment; it must succeed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBC_")}
    done = subprocess.run(
        [str(BIN / tool), *argv], input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert done.returncode == 0, f"{tool} {' '.join(argv)}: {done.stdout}{done.stderr}"
    return done


@dataclass
class Loop:
    topics: StreamTopics
    labels_topic: str
    expected_ids: set[str]
    labelling_ids: set[str]
    db_url: str
    ingest_group: str
    tmp: Path


@dataclass
class LabelApp:
    """`rbc label serve` in a child process, and an API session of one user on it."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def login(self, username: str) -> httpx.Client:
        response = httpx.post(f"{self.base}/api/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {response.json()['token']}"}
        )

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.base}/login", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> int:
        """SIGTERM: uvicorn stops, the ingest closes and the publisher flushes once more."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)


def start_label_app(bootstrap: str, loop: Loop) -> LabelApp:
    """`rbc label serve` on the loop's database and topics; waits until it answers HTTP."""
    port, log = free_port(), loop.tmp / "label.log"
    args = [
        "label",
        "serve",
        "--database-url",
        loop.db_url,
        "--http-port",
        str(port),
        "--bootstrap",
        bootstrap,
    ]
    args += ["--labelling-topic", loop.topics.labelling, "--labels-topic", loop.labels_topic]
    args += ["--ingest-group-id", loop.ingest_group, "--threshold", "0.5"]
    args += ["--publish-interval", "0.2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBC_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "rbc"), *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env
        )
    app = LabelApp(proc, f"http://127.0.0.1:{port}", log)
    wait_for(lambda: app.answers() or proc.poll() is not None, 90, "rbc label serve")
    assert proc.poll() is None, app.log_text()
    return app


def offline_scored_ids(packets: list[bytes], model: Path) -> set[str]:
    """Alert ids `rbc serve` must score, computed with the same decoder and model."""
    results = [r for p in packets for r in Decoder().decode(p)]
    return {
        str(o.alert.alert_id)
        for o in score_batch(results, Scorer.load(model, "cpu"), limiter=None)
        if isinstance(o, ScoredAlert)
    }


@pytest.fixture
def labelling_topic_filled(bootstrap: str, vendored_alerts: Path, tmp_path: Path) -> Iterator[Loop]:
    """`rbc serve` has sent every scored replayed alert to the labelling topic, and stopped."""
    model = write_tiny_model(tmp_path / "tiny.onnx", tiny_info(low_confidence=WHOLE_BAND))
    topics = StreamTopics.create(bootstrap, "label-loop", partitions=1)
    labels_topic = unique("label-loop-labels")
    create_topic(bootstrap, labels_topic, 1)
    expected = offline_scored_ids([p.read_bytes() for p in sorted(vendored_alerts.glob("*.avro"))], model)
    serve = start_serve(bootstrap, topics, model, tmp_path / "serve.log")
    try:
        rbc("replay", str(vendored_alerts), "--topic", topics.input, "--bootstrap", bootstrap, "--quiet")
        wait_for(lambda: count(bootstrap, topics.scored) >= len(expected), 120, "every alert scored")
    finally:
        assert serve.stop() == 0, serve.log()
    labelling = {str(decode_kafka(m.value())["alert_id"]) for m in read_all(bootstrap, topics.labelling)}
    db_url = f"sqlite:///{tmp_path / 'label.sqlite'}"
    yield Loop(topics, labels_topic, expected, labelling, db_url, unique("label-loop-ingest"), tmp_path)


def cast_votes(client: httpx.Client, alert_ids: list[str]) -> dict[str, str]:
    """Vote on every alert; return the labels that must settle (n = 1). The first three are
    the exceptions: one vote undone and changed, one unsure (goes to review), one skip."""
    settled: dict[str, str] = {}
    for n, alert_id in enumerate(alert_ids):
        label = {1: "unsure", 2: "skip"}.get(n, "real" if n % 2 else "bogus")
        assert client.post("/api/vote", json={"alert_id": alert_id, "label": label}).json()["status"] in (
            "labelled",
            "review",
            "open",
        )
        if n == 0:
            assert client.post("/api/undo").json() == {"alert_id": alert_id}
            label = "real"
            response = client.post("/api/vote", json={"alert_id": alert_id, "label": label})
            assert response.json() == {"status": "labelled", "label": "real"}, response.text
        if label in ("real", "bogus"):
            settled[alert_id] = label
    return settled


def latest_labels(bootstrap: str, topic: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The latest record per key on the labels topic, and every record's label in order."""
    latest: dict[str, dict[str, Any]] = {}
    history: list[str] = []
    for message in read_all(bootstrap, topic):
        record = decode_label(message.value())
        assert message.key().decode() == record["alert_id"]
        latest[record["alert_id"]] = record
        history.append(f"{record['alert_id']}:{record['label']}")
    return latest, history


def label_through_the_app(bootstrap: str, loop: Loop) -> dict[str, str]:
    """Start `rbc label serve`, wait for its ingest, vote through the API; the settled labels."""
    rbc("label", "useradd", "alice", "--password-stdin", "--database-url", loop.db_url, stdin=PASSWORD + "\n")
    app = start_label_app(bootstrap, loop)
    try:
        with app.login("alice") as alice:
            return _vote_all(alice, bootstrap, loop)
    finally:
        assert app.stop() == 0, app.log_text()


def _vote_all(alice: httpx.Client, bootstrap: str, loop: Loop) -> dict[str, str]:
    """Once the ingest has every alert: vote on all, and wait for the labels on the topic."""
    want = len(loop.labelling_ids)
    wait_for(lambda: alice.get("/api/queue").json()["left"] == want, 90, "the app's ingest")
    queue = alice.get("/api/queue", params={"limit": 100}).json()
    assert {a["alert_id"] for a in queue["alerts"]} == loop.labelling_ids
    settled = cast_votes(alice, sorted(loop.labelling_ids))
    assert alice.get("/api/queue").json() == {"alerts": [], "done": want, "left": 0}
    wait_for(lambda: count(bootstrap, loop.labels_topic) >= len(settled) + 2, 60, "labels published")
    return settled


def test_replayed_alerts_are_labelled_published_and_exported_for_training(
    bootstrap: str, labelling_topic_filled: Loop
) -> None:
    loop = labelling_topic_filled
    assert loop.labelling_ids == loop.expected_ids, "every scored alert goes to labelling (whole band)"
    assert len(loop.labelling_ids) >= 10
    settled = label_through_the_app(bootstrap, loop)
    assert committed(bootstrap, loop.ingest_group, loop.topics.labelling) == high_watermarks(
        bootstrap, loop.topics.labelling
    ), "the ingest commits what it stored"
    latest, history = latest_labels(bootstrap, loop.labels_topic)
    assert {k: r["label"] for k, r in latest.items()} == settled
    first = sorted(loop.labelling_ids)[0]
    assert [h for h in history if h.startswith(f"{first}:")] == [
        f"{first}:bogus",
        f"{first}:retracted",
        f"{first}:real",
    ]
    assert all(r["labellers"] == ["alice"] and r["consensus_n"] == 1 for r in latest.values())
    out = loop.tmp / "export"
    summary = json.loads(rbc("label", "export", "--out", str(out), "--database-url", loop.db_url).stdout)
    assert summary["labels"] == len(settled) and summary["skipped"] == {}
    info = json.loads(rbc("dataset-info", "--json", summary["dataset"], tool="rbc-train").stdout)
    real = sum(label == "real" for label in settled.values())
    assert (info["samples"], info["real"], info["bogus"]) == (len(settled), real, len(settled) - real)
    assert info["format"] and info["skipped_inputs"] == {}
