"""The run loop's limits: the all-failed stop counts only alerts that reached the model, and a
slow decode keeps the consumer polling (partitions paused) instead of losing the group."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.alerts.native import BatchDecoder, DecodedBatch, make_batch_decoder
from rbc1000.model.scoring import Scorer
from rbc1000.stream import batcher as batcher_module
from rbc1000.stream.kafka_io import Message, Partition
from rbc1000.stream.loop import StopFlag
from tests.support.kafka_fakes import FakeSink, FakeSource, header, messages, processor, vendored
from tests.unit.stream.test_loop_offsets import FlakyScorer

P0, P1 = Partition("in", 0), Partition("in", 1)


def without_cutouts() -> bytes:
    """A vendored packet whose first alert decodes but lacks a stamp."""
    for packet in vendored("*.avro"):
        first = Decoder().decode(packet)[0]
        if isinstance(first, Alert) and not first.cutouts.complete:
            return packet
    raise AssertionError("the vendored alerts should include one without cutouts")


def test_all_failed_stop_ignores_alerts_that_never_reached_the_model(scorer: Scorer) -> None:
    good = vendored("fink-broker__*")[:3]
    batch = [*good, without_cutouts(), b"\x01not an alert"]
    source, sink = FakeSource.of(messages(batch)), FakeSink()
    broken = FlakyScorer(scorer, poison_index=None, broken=True)
    with pytest.raises(RuntimeError, match="every alert"):
        processor(source, sink, broken, batch_size=len(batch)).run()  # type: ignore[arg-type]
    assert sink.records == []
    assert source.commit_calls == []


def test_one_alert_failing_among_unscorable_ones_is_dead_lettered(scorer: Scorer) -> None:
    batch = [vendored("fink-broker__*")[0], without_cutouts(), b"\x01not an alert"]
    source, sink = FakeSource.of(messages(batch)), FakeSink()
    broken = FlakyScorer(scorer, poison_index=None, broken=True)
    processor(source, sink, broken, batch_size=len(batch)).run()  # type: ignore[arg-type]
    reasons = sorted(dict(d.headers)["rbc.error.reason"].decode() for d in sink.on("rbc.dead-letter"))
    assert "scoring_failed" in reasons and len(reasons) == 3
    assert source.committed == {P0: 3}


class GatedDecoder:
    """Decodes only once the consumer was polled `polls` times with its partitions paused."""

    def __init__(self, inner: BatchDecoder, gate: threading.Event) -> None:
        self.inner, self.gate = inner, gate

    def decode_batch(self, values: Sequence[bytes], version: str) -> DecodedBatch:
        assert self.gate.wait(30), "the loop never polled while the decode was under way"
        return self.inner.decode_batch(values, version)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class PausedPolls(FakeSource):
    """Counts consume calls made while paused; opens the gate after three of them."""

    gate: threading.Event = threading.Event()
    while_paused: int = 0

    def consume(self, max_messages: int, timeout_s: float) -> list[Message]:
        if self.paused > self.resumed:
            self.while_paused += 1
            if self.while_paused >= 3:
                self.gate.set()
        return super().consume(max_messages, timeout_s)


def test_a_slow_decode_keeps_polling_with_partitions_paused(
    scorer: Scorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module, "QUICK_WAIT_S", 0.01)
    monkeypatch.setattr(batcher_module, "KEEP_ALIVE_S", 0.01)
    packets = vendored("fink-broker__*")[:6]
    source = PausedPolls.of(messages(packets), stop=StopFlag())
    assert isinstance(source, PausedPolls)
    source.gate = threading.Event()
    decoder = GatedDecoder(make_batch_decoder("auto"), source.gate)
    sink = FakeSink()
    processor(source, sink, scorer, decoder=decoder, batch_size=3).run()  # type: ignore[arg-type]
    assert source.while_paused >= 3
    assert source.paused == source.resumed >= 1
    assert len(sink.on("rbc.scored")) == len(packets)
    assert source.committed == {P0: len(packets)}


class RevokeWhilePaused(PausedPolls):
    """Revokes partition 1 at the first poll made while paused (a rebalance during a slow decode)."""

    def consume(self, max_messages: int, timeout_s: float) -> list[Message]:
        if self.paused > self.resumed and self.while_paused == 0:
            self.revoke([P1])
        return super().consume(max_messages, timeout_s)


def test_a_rebalance_during_a_slow_decode_drops_the_revoked_partition_of_the_batch(
    scorer: Scorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module, "QUICK_WAIT_S", 0.01)
    monkeypatch.setattr(batcher_module, "KEEP_ALIVE_S", 0.01)
    packets = vendored("fink-broker__*")[:6]
    both = messages(packets[:3], partition=0) + messages(packets[3:], partition=1)
    source = RevokeWhilePaused.of(both, stop=StopFlag())
    assert isinstance(source, RevokeWhilePaused)
    source.gate = threading.Event()
    decoder = GatedDecoder(make_batch_decoder("auto"), source.gate)
    sink = FakeSink()
    processor(source, sink, scorer, decoder=decoder, batch_size=6).run()  # type: ignore[arg-type]
    assert {header(r, "rbc.source.partition") for r in sink.on("rbc.scored")} == {"0"}
    assert len(sink.on("rbc.scored")) == 3
    assert source.committed == {P0: 3}
