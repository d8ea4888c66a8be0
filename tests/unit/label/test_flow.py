"""Ingest from a (fake) labelling topic, the JSON API, the labels topic, and the export."""

from __future__ import annotations

import csv
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from starlette.testclient import TestClient

from rbc1000.label.export import export_labels
from rbc1000.label.ingest import Ingester, run_ingest
from rbc1000.label.publish import decode_label, publish_pending
from rbc1000.label.store import Store
from rbc1000.stream.kafka_io import Message, Partition
from rbc1000.stream.records import ScoredRecord, encode_kafka
from rbc1000.train.data.loaders import load_dataset_report
from tests.support.kafka_fakes import FakeSink, FakeSource
from tests.unit.label.conftest import ingest
from tests.unit.label.factory import FIRST_ID, add_account, scored_record


def _framed(record: dict[str, object]) -> bytes:
    fields = {k: v for k, v in record.items() if k != "selection_reason"}
    return encode_kafka(ScoredRecord(**fields))  # type: ignore[arg-type]


class _StopWhenEmpty(FakeSource):
    def __init__(self, msgs: list[Message], stop: threading.Event) -> None:
        super().__init__(deque(msgs))
        self._stop = stop

    def consume(self, max_messages: int, timeout_s: float) -> list[Message]:
        out = super().consume(max_messages, timeout_s)
        if not self.queue:
            self._stop.set()
        return out


def test_ingest_stores_each_alert_once_and_commits_after_storing(store: Store, ingester: Ingester) -> None:
    values = [_framed(scored_record(n, 0.8)) for n in (1, 2, 1)] + [b"\x00garbage"]
    msgs = [Message("rbc.labelling", 0, 10 + i, None, v) for i, v in enumerate(values)]
    stop = threading.Event()
    source = _StopWhenEmpty(msgs, stop)
    stored_at_commit: list[int] = []
    original_commit = source.commit

    def commit(offsets: Mapping[Partition, int]) -> list[Partition]:
        stored_at_commit.append(sum(store.status_counts().values()))
        return original_commit(offsets)

    source.commit = commit  # type: ignore[method-assign]
    report = run_ingest(ingester, source, "rbc.labelling", 2, stop)
    assert (report.read, report.stored, sum(report.refused.values())) == (4, 2, 1)
    assert source.committed == {Partition("rbc.labelling", 0): 14}
    assert stored_at_commit == [2, 2]  # each batch was in the database before its commit
    assert store.packet(str(FIRST_ID + 1)) is not None


def test_api_queue_vote_export_and_labels_topic(client: TestClient, store: Store, ingester: Ingester) -> None:
    ingest(ingester, [scored_record(1, 0.8), scored_record(2, 0.7, "random")])
    add_account(store, "bot")
    add_account(store, "root", "admin")
    token = client.post("/api/login", json={"username": "bot", "password": "correct horse battery"}).json()
    auth = {"authorization": f"Bearer {token['token']}"}
    queue = client.get("/api/queue?limit=5", headers=auth).json()
    assert [a["alert_id"] for a in queue["alerts"]] == [str(FIRST_ID + 1), str(FIRST_ID + 2)]
    assert queue["alerts"][1]["selection_reason"] == "random" and queue["left"] == 2
    for alert, label in zip(queue["alerts"], ("real", "bogus"), strict=True):
        assert client.post(
            "/api/vote", headers=auth, json={"alert_id": alert["alert_id"], "label": label}
        ).json() == {
            "status": "labelled",
            "label": label,
        }
    assert (
        client.post(
            "/api/vote", headers=auth, json={"alert_id": str(FIRST_ID + 1), "label": "real"}
        ).status_code
        == 409
    )
    assert client.get("/api/export", headers=auth).status_code == 403
    admin = client.post("/api/login", json={"username": "root", "password": "correct horse battery"}).json()
    exported = client.get("/api/export", headers={"authorization": f"Bearer {admin['token']}"}).json()
    assert [(r["alert_id"], r["label"], r["labeller"]) for r in exported["labels"]] == [
        (str(FIRST_ID + 1), "real", "bot"),
        (str(FIRST_ID + 2), "bogus", "bot"),
    ]
    packet = client.get(exported["labels"][0]["packet_url"], headers=auth)
    assert packet.content == store.packet(str(FIRST_ID + 1))
    sink = FakeSink()
    assert publish_pending(store, sink, "rbc.labels", 1, 5.0) == 2
    assert publish_pending(store, sink, "rbc.labels", 1, 5.0) == 0
    assert [r.key for r in sink.records] == [str(FIRST_ID + n).encode() for n in (1, 2)]
    assert all(r.value.startswith(b"Obj\x01") for r in sink.records)  # default container framing
    first = decode_label(sink.records[0].value)
    assert (first["label"], first["labellers"], first["selection_reason"]) == ("real", ["bot"], "uncertain")


def test_export_is_read_back_by_the_training_loader(
    client: TestClient, store: Store, ingester: Ingester, tmp_path: Path
) -> None:
    ingest(ingester, [scored_record(n, 0.8) for n in range(1, 5)])
    user = add_account(store, "alice")
    for n, label in zip(range(1, 5), ("real", "bogus", "real", "skip"), strict=True):
        store.vote(str(FIRST_ID + n), user, label, 1)
    report = export_labels(store, tmp_path / "out")
    assert report.labels == 3
    with (tmp_path / "out" / "labels.csv").open() as fo:
        rows = list(csv.DictReader(fo))
    assert (rows[0]["alert_id"], rows[0]["label"], rows[0]["labeller"]) == (
        str(FIRST_ID + 1),
        "real",
        "alice",
    )
    loaded = load_dataset_report(report.dataset_spec(tmp_path / "out"))
    assert len(loaded.dataset) == 3
    assert sorted(loaded.dataset.y.tolist()) == [0, 1, 1]
