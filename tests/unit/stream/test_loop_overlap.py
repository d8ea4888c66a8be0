"""Decoding overlaps scoring: batch n+1 is decoded on the decode thread while batch n is scored,
and still a batch's offsets are committed only after its outputs are acknowledged, in order,
on both decode paths."""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rbc1000.alerts.native import BatchDecoder, DecodedBatch, DecodePath, Implementation, make_batch_decoder
from rbc1000.model.preprocessing import PP_V1, PP_V2
from rbc1000.model.scoring import Scorer
from rbc1000.stream.kafka_io import DeliveryError, Partition
from rbc1000.stream.loop import TransientError
from tests.support.kafka_fakes import (
    DECODE_PATHS,
    FakeClock,
    FakeSink,
    FakeSource,
    messages,
    processor,
    source_of,
    vendored,
)

P0 = Partition("in", 0)


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    return vendored("fink-broker__*")[:9]


class GatedDecoder:
    """A batch decoder that records each call (its thread and version) and signals when the
    decode of the second batch has started."""

    def __init__(self, inner: BatchDecoder) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str, int]] = []
        self.second_started = threading.Event()
        self.fail_call: int | None = None

    @property
    def path(self) -> Implementation:
        return self.inner.path

    def preprocessing(self, version: str) -> Implementation:
        return self.inner.preprocessing(version)

    def decode(self, data: bytes) -> list[Any]:
        return self.inner.decode(data)

    def decode_batch(self, messages: Sequence[bytes], version: str = PP_V1) -> DecodedBatch:
        self.calls.append((threading.current_thread().name, version, len(messages)))
        if len(self.calls) == 2:
            self.second_started.set()
        if self.fail_call == len(self.calls):
            frame = b"\x00\x00\x00\x03\x84body"  # a Confluent frame whose schema id no registry has
            unreachable = make_batch_decoder(self.inner.path, Path("/nonexistent"), "http://127.0.0.1:9/")
            return unreachable.decode_batch([frame], version)
        return self.inner.decode_batch(messages, version)


class WaitingScorer:
    """Scores like `inner`, but the first batch is scored only once the second batch's decode
    has started: a loop that does not overlap the two never gets past it."""

    def __init__(self, inner: Scorer, decoder: GatedDecoder, info: Any = None) -> None:
        self.inner, self.decoder = inner, decoder
        self.info, self.provider = info or inner.info, inner.provider
        self.overlapped: list[bool] = []

    def score(self, triplets: np.ndarray) -> np.ndarray:
        if not self.overlapped:
            self.overlapped.append(self.decoder.second_started.wait(timeout=30))
        return self.inner.score(triplets)


@dataclass
class AckCheckingSource(FakeSource):
    """Fails a commit that names an offset whose message (or an earlier one) has outputs not
    yet acknowledged by the sink."""

    sink: FakeSink | None = None

    @classmethod
    def with_sink(cls, values: list[bytes], sink: FakeSink) -> AckCheckingSource:
        return cls(deque(messages(values)), sink=sink)

    def commit(self, offsets: Any) -> list[Partition]:
        assert self.sink is not None
        pending = {source_of(r) for r, _ in self.sink.unacked}
        acked = {source_of(r) for r in self.sink.records} - pending
        for part, offset in offsets.items():
            below = {o for p, o in acked if p == part.partition and o < offset}
            assert below == set(range(offset)), f"commit of {offset} before all below it are acknowledged"
        return super().commit(offsets)


def run_overlapped(
    scorer: Scorer, packets: list[bytes], path: DecodePath, **overrides: Any
) -> tuple[AckCheckingSource, FakeSink, GatedDecoder, WaitingScorer]:
    decoder = GatedDecoder(make_batch_decoder(path))
    sink = FakeSink(**overrides)
    source = AckCheckingSource.with_sink(packets, sink)
    waiting = WaitingScorer(scorer, decoder)
    proc = processor(source, sink, waiting, decoder=decoder, batch_size=3)  # type: ignore[arg-type]
    try:
        proc.run()
    finally:
        decoder.second_started.set()
    return source, sink, decoder, waiting


@pytest.mark.parametrize("path", DECODE_PATHS)
def test_next_batch_decodes_while_this_one_is_scored(
    scorer: Scorer, packets: list[bytes], path: DecodePath
) -> None:
    source, sink, decoder, waiting = run_overlapped(scorer, packets, path)
    assert waiting.overlapped == [True]
    assert {thread for thread, _, _ in decoder.calls} == {"rbc-decode_0"}
    assert len(sink.on("rbc.scored")) == len(packets)
    assert [c[P0] for c in source.commit_calls] == [3, 6, 9]  # batch after batch, in order


@pytest.mark.parametrize("path", DECODE_PATHS)
def test_a_failed_delivery_stops_the_commits_of_its_batch_and_those_decoded_ahead(
    scorer: Scorer, packets: list[bytes], path: DecodePath
) -> None:
    decoder = GatedDecoder(make_batch_decoder(path))
    sink = FakeSink()
    source = AckCheckingSource.with_sink(packets, sink)
    original_flush = sink.flush

    def flush_failing_second_batch(timeout_s: float) -> None:
        if len(sink.flushed_sources) == 1:
            sink.fail_topics = frozenset({"rbc.scored"})
        original_flush(timeout_s)

    sink.flush = flush_failing_second_batch  # type: ignore[method-assign]
    with pytest.raises(DeliveryError):
        processor(source, sink, scorer, decoder=decoder, batch_size=3).run()
    assert source.commit_calls == [{P0: 3}]
    assert not source.queue  # the third batch was consumed (and decoded ahead), not committed


@pytest.mark.parametrize("path", DECODE_PATHS)
def test_a_transient_decode_failure_ahead_commits_only_the_batches_before(
    scorer: Scorer, packets: list[bytes], path: DecodePath
) -> None:
    decoder = GatedDecoder(make_batch_decoder(path))
    decoder.fail_call = 2
    sink = FakeSink()
    source = AckCheckingSource.with_sink(packets, sink)
    with pytest.raises(TransientError, match="registry_unavailable"):
        processor(source, sink, scorer, decoder=decoder, batch_size=3).run()
    assert source.commit_calls == [{P0: 3}]
    assert {source_of(r)[1] for r in sink.records} == {0, 1, 2}
    assert sink.on("rbc.dead-letter") == []


@pytest.mark.parametrize("path", DECODE_PATHS)
def test_a_reload_to_another_preprocessing_decodes_the_batch_ahead_again(
    scorer: Scorer, packets: list[bytes], path: DecodePath
) -> None:
    """The batch decoded ahead for the old model is scored with the new model's triplets."""
    old = dataclasses.replace(scorer.info, preprocessing_version=PP_V1)
    new = dataclasses.replace(scorer.info, preprocessing_version=PP_V2)
    decoder = GatedDecoder(make_batch_decoder(path))
    first, second = WaitingScorer(scorer, decoder, old), WaitingScorer(scorer, decoder, new)
    second.overlapped.append(True)

    class ReloadAtSecondTurn:  # after the second batch was submitted, before it is finished
        polls = 0

        def poll(self) -> Any:
            self.polls += 1
            return second if self.polls == 2 else None

    source, sink = FakeSource.of(messages(packets), clock=FakeClock(), step_s=1.0), FakeSink()
    proc = processor(source, sink, first, decoder=decoder, batch_size=3, model_poll_s=1e-9)  # type: ignore[arg-type]
    proc.housekeeping.watcher = ReloadAtSecondTurn()
    proc.run()
    versions = [version for _, version, _ in decoder.calls]
    assert versions == [PP_V1, PP_V1, PP_V2, PP_V2]  # the second batch is decoded again
    assert len(sink.on("rbc.scored")) == len(packets)
    assert source.committed == {P0: len(packets)}
