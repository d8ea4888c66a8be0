"""Exactly once in the run loop: each batch's outputs and input offsets form one transaction,
a failure aborts it and commits nothing more, fatal errors stop with a one-line reason; and the
settings that turn it on."""

from __future__ import annotations

import argparse
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from pydantic import ValidationError

from rbc1000.cli.serve import configure
from rbc1000.model.scoring import Scorer
from rbc1000.ops.cli_flags import given_flags
from rbc1000.ops.settings import ServeSettings
from rbc1000.stream.kafka_io import DeliveryError, KafkaFatalError, OutputRecord, Partition
from rbc1000.stream.loop import StreamProcessor
from rbc1000.stream.transactions import TransactionAborted, TransactionalSink
from tests.support.kafka_fakes import (
    FakeSink,
    FakeSource,
    collaborators,
    messages,
    settings,
    source_of,
    vendored,
)

P0, P1 = Partition("in", 0), Partition("in", 1)
GROUP_METADATA = object()


@dataclass
class FakeTransactions:
    """A transactional producer over a FakeSink that keeps librdkafka's rules (no output outside
    a transaction, offsets and commit only inside one) and records every call in `events`.
    `fail[step]` is raised by that step (begin, send_offsets, commit) once."""

    sink: FakeSink = field(default_factory=FakeSink)
    events: list[str] = field(default_factory=list)
    sent: list[dict[Partition, int]] = field(default_factory=list)
    fail: dict[str, KafkaError] = field(default_factory=dict)
    open: bool = False

    def _step(self, step: str) -> None:
        self.events.append(step)
        if step in self.fail:
            raise KafkaException(self.fail.pop(step))

    def produce(self, record: OutputRecord, on_delivered: Callable[[], None]) -> None:
        assert self.open, "produce outside a transaction"
        self.events.append(f"produce:{record.topic}")
        self.sink.produce(record, on_delivered)

    def poll(self) -> None:
        pass

    def flush(self, timeout_s: float) -> None:
        self.events.append("flush")
        self.sink.flush(timeout_s)

    def init_transactions(self, timeout_s: float) -> None:
        self._step("init")

    def begin_transaction(self) -> None:
        assert not self.open, "begin inside a transaction"
        self._step("begin")
        self.open = True

    def send_offsets_to_transaction(
        self, offsets: Mapping[Partition, int], group_metadata: Any, timeout_s: float
    ) -> None:
        assert self.open and group_metadata is GROUP_METADATA
        self._step("send_offsets")
        self.sent.append(dict(offsets))

    def commit_transaction(self, timeout_s: float) -> None:
        assert self.open
        self._step("commit")
        self.open = False

    def abort_transaction(self, timeout_s: float) -> None:
        self._step("abort")
        self.open = False


def run_exactly_once(
    source: FakeSource, scorer: Scorer, client: FakeTransactions, batch_size: int = 4
) -> TransactionalSink:
    sink = TransactionalSink(client, lambda: GROUP_METADATA, timeout_s=1.0)
    sink.start(timeout_s=1.0)
    parts = replace(collaborators(source, client.sink, scorer, committer=sink), sink=sink)
    StreamProcessor(settings(batch_size=batch_size, exactly_once=True), parts).run()
    return sink


def transactions(events: list[str]) -> list[list[str]]:
    """The events between each begin and the commit or abort that ends it."""
    out: list[list[str]] = []
    for event in events:
        if event == "begin":
            out.append([])
        elif out and out[-1][-1:] not in (["commit"], ["abort"]):
            out[-1].append(event)
    return out


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    return vendored("fink-broker__*")[:6]


def test_each_batch_is_one_transaction_with_its_offsets(scorer: Scorer, packets: list[bytes]) -> None:
    values = [*packets[:3], b"", *packets[3:]]  # the empty message is dead-lettered
    source, client = FakeSource.of(messages(values)), FakeTransactions()
    sink = run_exactly_once(source, scorer, client, batch_size=4)
    batches = transactions(client.events)
    assert len(batches) == 2 and sink.transactions == 2
    for events in batches:
        assert events[-3:] == ["flush", "send_offsets", "commit"]
        assert all(e.startswith("produce:") for e in events[:-3])
    assert "produce:rbc.dead-letter" in batches[0]  # dead letters share the batch's transaction
    assert "produce:rbc.labelling" in client.events  # and so do labelling copies (no cap here)
    assert client.sent == [{P0: 4}, {P0: len(values)}]
    assert source.commit_calls == []  # offsets move only inside transactions


def test_failed_delivery_aborts_and_commits_nothing_more(scorer: Scorer, packets: list[bytes]) -> None:
    source, client = FakeSource.of(messages(packets)), FakeTransactions()
    original_flush = client.sink.flush

    def flush_failing_second_batch(timeout_s: float) -> None:
        if len(client.sink.flushed_sources) == 1:
            client.sink.fail_topics = frozenset({"rbc.scored"})
        original_flush(timeout_s)

    client.sink.flush = flush_failing_second_batch  # type: ignore[method-assign]
    with pytest.raises(DeliveryError):
        run_exactly_once(source, scorer, client, batch_size=4)
    assert client.sent == [{P0: 4}]
    assert client.events[-2:] == ["flush", "abort"]
    assert [e[-1] for e in transactions(client.events)] == ["commit", "abort"]


def test_after_an_abort_nothing_is_produced_or_committed(scorer: Scorer) -> None:
    client = FakeTransactions()
    sink = TransactionalSink(client, lambda: GROUP_METADATA, timeout_s=1.0)
    sink.produce(OutputRecord("out", b"x"), lambda: None)
    sink.abort()
    assert sink.commit({P0: 1}) == [P0]  # the loop records nothing as committed
    with pytest.raises(TransactionAborted):
        sink.produce(OutputRecord("out", b"y"), lambda: None)
    assert client.events == ["begin", "produce:out", "abort"]


def test_abortable_commit_error_aborts_and_stops(scorer: Scorer, packets: list[bytes]) -> None:
    client = FakeTransactions(
        fail={"commit": KafkaError(KafkaError._STATE, "broken", txn_requires_abort=True)}
    )
    source = FakeSource.of(messages(packets))
    with pytest.raises(TransactionAborted, match="commit failed, aborted"):
        run_exactly_once(source, scorer, client)
    assert client.events[-3:] == ["send_offsets", "commit", "abort"]
    assert source.commit_calls == []


def test_fenced_producer_is_fatal_with_a_one_line_reason(scorer: Scorer, packets: list[bytes]) -> None:
    fenced = KafkaError(KafkaError._FENCED, "producer fenced by a newer instance", fatal=True)
    client = FakeTransactions(fail={"send_offsets": fenced})
    with pytest.raises(KafkaFatalError) as raised:
        run_exactly_once(FakeSource.of(messages(packets)), scorer, client)
    assert not isinstance(raised.value, TransactionAborted)
    assert "\n" not in str(raised.value) and "--instance-id" in str(raised.value)
    assert "commit" not in client.events


def test_fenced_producer_seen_at_flush_is_named(scorer: Scorer, packets: list[bytes]) -> None:
    fenced = KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True)
    client = FakeTransactions(sink=FakeSink(frozenset({"rbc.scored"})), fail={"abort": fenced})
    with pytest.raises(KafkaFatalError, match=r"_FENCED.*--instance-id"):
        run_exactly_once(FakeSource.of(messages(packets)), scorer, client)
    assert client.events[-2:] == ["flush", "abort"] and "commit" not in client.events


def test_retriable_commit_error_is_retried(scorer: Scorer, packets: list[bytes]) -> None:
    client = FakeTransactions(fail={"commit": KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True)})
    sink = run_exactly_once(FakeSource.of(messages(packets)), scorer, client, batch_size=100)
    assert [e for e in client.events if e != "flush"][-3:] == ["send_offsets", "commit", "commit"]
    assert sink.transactions == 1 and client.sent == [{P0: len(packets)}]


def test_a_hung_transaction_call_is_fatal_within_its_bound() -> None:
    released = threading.Event()
    client = FakeTransactions()
    client.send_offsets_to_transaction = lambda *_: released.wait(30)  # type: ignore[method-assign,assignment]
    sink = TransactionalSink(client, lambda: GROUP_METADATA, timeout_s=0.1, grace_s=0.1)
    sink.produce(OutputRecord("out", b"x"), lambda: None)
    try:
        with pytest.raises(KafkaFatalError, match="send_offsets unanswered"):
            sink.commit({P0: 1})
    finally:
        released.set()
    sink.abort()
    assert "commit" not in client.events and "abort" not in client.events  # nothing after a hang


def test_revocation_commits_the_batch_in_hand_in_a_transaction(scorer: Scorer, packets: list[bytes]) -> None:
    half = len(packets) // 2
    interleaved = [
        m for pair in zip(*(messages(packets[:half], p) for p in (0, 1)), strict=True) for m in pair
    ]
    source = FakeSource.of(interleaved, per_call=2)
    source.script[3] = lambda src: src.revoke([P1])
    client = FakeTransactions()
    run_exactly_once(source, scorer, client, batch_size=2)
    revoked_at = next(i for i, sent in enumerate(client.sent) if P1 in sent)
    assert all(P1 not in sent for sent in client.sent[revoked_at + 1 :])
    produced_p1 = [off for part, off in map(source_of, client.sink.on("rbc.scored")) if part == 1]
    assert client.sent[revoked_at][P1] == max(produced_p1) + 1
    assert [e[-1] for e in transactions(client.events)] == ["commit"] * len(client.sent)


# settings -------------------------------------------------------------------------------------


def test_exactly_once_sets_transactional_id_and_read_committed() -> None:
    plain = settings()
    assert "transactional.id" not in plain.producer_config()
    assert "isolation.level" not in plain.consumer_config()
    eos = settings(exactly_once=True, group_id="scorers", instance_id="node-3")
    assert eos.producer_config()["transactional.id"] == "scorers.node-3"
    assert eos.consumer_config()["isolation.level"] == "read_committed"
    default = settings(exactly_once=True, group_id="scorers")
    assert default.producer_config()["transactional.id"] == f"scorers.{socket.gethostname()}"


def test_exactly_once_refuses_read_uncommitted_and_a_hand_set_transactional_id() -> None:
    with pytest.raises(ValidationError, match="read_committed"):
        settings(exactly_once=True, kafka={"extra": {"isolation.level": "read_uncommitted"}})
    with pytest.raises(ValidationError, match=r"transactional\.id"):
        settings(kafka={"extra": {"transactional.id": "mine"}})


def test_exactly_once_from_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(["--topics", "in", "--exactly-once", "--instance-id", "b"])
    assert given_flags(args, ServeSettings) | {"input_topics": ["in"]} == {
        "input_topics": ["in"],
        "exactly_once": True,
        "instance_id": "b",
    }
    monkeypatch.setenv("RBC_EXACTLY_ONCE", "true")
    monkeypatch.setenv("RBC_INSTANCE_ID", "a")
    got = ServeSettings(input_topics=["in"])
    assert got.exactly_once and got.instance_id == "a"
