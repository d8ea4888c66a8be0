"""At-least-once in the run loop: commits follow acknowledgements, a failure commits nothing
unfinished, revocation commits finished work and hands the rest back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rbc1000.alerts.native import make_batch_decoder
from rbc1000.model.scoring import Scorer
from rbc1000.stream.kafka_io import DeliveryError, Partition
from rbc1000.stream.loop import TransientError
from tests.support.kafka_fakes import (
    FakeSink,
    FakeSource,
    each_decode_path,
    messages,
    processor,
    source_of,
    vendored,
)

pytestmark = pytest.mark.usefixtures(each_decode_path.__name__)

P0, P1 = Partition("in", 0), Partition("in", 1)


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    return vendored("fink-broker__*")[:8]


def interleaved(packets: list[bytes]) -> list[Any]:
    """Half the packets in partition 0, half in partition 1, alternating."""
    half = len(packets) // 2
    p0, p1 = messages(packets[:half], partition=0), messages(packets[half:], partition=1)
    return [m for pair in zip(p0, p1, strict=True) for m in pair]


def test_commits_next_offset_per_partition(scorer: Scorer, packets: list[bytes]) -> None:
    source, sink = FakeSource.of(interleaved(packets)), FakeSink()
    processor(source, sink, scorer, batch_size=3).run()
    half = len(packets) // 2
    assert source.committed == {P0: half, P1: half}
    for call in source.commit_calls:  # each commit only after its batch was acknowledged
        assert all(offset <= half for offset in call.values())


def test_failed_delivery_commits_nothing_of_that_batch(scorer: Scorer, packets: list[bytes]) -> None:
    source = FakeSource.of(messages(packets))
    sink = FakeSink()
    proc = processor(source, sink, scorer, batch_size=4)
    original_flush = sink.flush

    def flush_failing_second_batch(timeout_s: float) -> None:
        if len(sink.flushed_sources) == 1:
            sink.fail_topics = frozenset({"rbc.scored"})
        original_flush(timeout_s)

    sink.flush = flush_failing_second_batch  # type: ignore[method-assign]
    with pytest.raises(DeliveryError):
        proc.run()
    assert source.committed == {P0: 4}  # the first batch only: unchanged by the failure
    assert len(source.commit_calls) == 1


def test_failure_before_any_ack_commits_nothing(scorer: Scorer, packets: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(packets)), FakeSink(frozenset({"rbc.labelling"}))
    with pytest.raises(DeliveryError):
        processor(source, sink, scorer, batch_size=100).run()
    assert source.commit_calls == []


def test_revocation_commits_finished_work_and_drops_the_rest(scorer: Scorer, packets: list[bytes]) -> None:
    source = FakeSource.of(interleaved(packets), per_call=2)
    source.script[4] = lambda src: src.revoke([P1])  # after two batches of 2 + one message each
    sink = FakeSink()
    processor(source, sink, scorer, batch_size=4).run()
    produced_p1 = sorted(off for part, off in map(source_of, sink.on("rbc.scored")) if part == 1)
    assert source.committed[P1] == produced_p1[-1] + 1  # all finished work of P1 committed
    assert produced_p1 == list(range(len(produced_p1)))  # and nothing after it produced
    assert source.committed[P0] == len(packets) // 2


def test_lost_partitions_commit_nothing(scorer: Scorer, packets: list[bytes]) -> None:
    source = FakeSource.of(messages(packets), per_call=1)

    def lose(src: FakeSource) -> None:
        assert src.listener is not None
        src.listener.on_lost([P0])
        src.queue.clear()

    source.script[2] = lose
    sink = FakeSink()
    processor(source, sink, scorer, batch_size=8).run()
    assert source.commit_calls == []
    assert sink.records == []


class FlakyScorer:
    """Fails any batch holding the poisoned triplet, or every batch when `broken`."""

    def __init__(self, inner: Scorer, poison_index: int | None, broken: bool = False) -> None:
        self.inner, self.info, self.calls = inner, inner.info, 0
        self.poison_index, self.broken = poison_index, broken
        self.poison: np.ndarray | None = None

    def score(self, triplets: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.broken:
            raise RuntimeError("device lost")
        if self.poison is None and self.poison_index is not None:
            self.poison = triplets[self.poison_index].copy()
        poison = self.poison
        if poison is not None and any(np.array_equal(t, poison) for t in triplets):
            raise RuntimeError("poisoned input")
        return self.inner.score(triplets)


def test_one_unscorable_alert_is_dead_lettered(scorer: Scorer, packets: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(packets[:4])), FakeSink()
    flaky = FlakyScorer(scorer, poison_index=2)
    processor(source, sink, flaky, batch_size=4).run()  # type: ignore[arg-type]
    dead = sink.on("rbc.dead-letter")
    assert [source_of(d) for d in dead] == [(0, 2)]
    assert len(sink.on("rbc.scored")) == 3
    assert source.committed == {P0: 4}


def test_model_failing_everything_commits_nothing(scorer: Scorer, packets: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(packets[:4])), FakeSink()
    flaky = FlakyScorer(scorer, poison_index=None, broken=True)
    with pytest.raises(RuntimeError, match="every alert"):
        processor(source, sink, flaky, batch_size=4).run()  # type: ignore[arg-type]
    assert sink.on("rbc.dead-letter") == []
    assert source.commit_calls == []


def test_unreachable_registry_stops_without_dead_letter_or_commit(
    scorer: Scorer, packets: list[bytes]
) -> None:
    frame = b"\x00\x00\x00\x03\x84" + b"body"  # Confluent frame, schema id 900
    source, sink = FakeSource.of(messages([packets[0], frame])), FakeSink()
    decoder = make_batch_decoder("auto", Path("/nonexistent"), "http://127.0.0.1:9/")
    proc = processor(source, sink, scorer, decoder=decoder, registry_url="http://127.0.0.1:9/")
    with pytest.raises(TransientError, match="registry_unavailable"):
        proc.run()
    assert sink.on("rbc.dead-letter") == []
    assert source.commit_calls == []
