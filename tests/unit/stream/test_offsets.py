"""OffsetTracker: a partition's commit offset moves only past messages whose every output is
acknowledged, contiguously, whatever order the acknowledgements arrive in."""

from __future__ import annotations

import pytest

from rbc1000.stream.kafka_io import Partition
from rbc1000.stream.offsets import OffsetTracker

P0 = Partition("in", 0)
P1 = Partition("in", 1)


def consume(tracker: OffsetTracker, part: Partition, offsets: range, outputs: int) -> None:
    for offset in offsets:
        tracker.consumed(part, offset)
        tracker.expect(part, offset, outputs)
        tracker.processed(part, offset)


def test_nothing_committable_before_acknowledgements() -> None:
    tracker = OffsetTracker()
    consume(tracker, P0, range(0, 3), outputs=1)
    assert tracker.committable() == {}
    assert tracker.unfinished() == 3


def test_watermark_is_one_past_the_finished_prefix() -> None:
    tracker = OffsetTracker()
    consume(tracker, P0, range(10, 14), outputs=1)
    tracker.acknowledged(P0, 10)
    tracker.acknowledged(P0, 12)  # out of order: 11 is still unfinished
    assert tracker.committable() == {P0: 11}
    tracker.acknowledged(P0, 11)
    assert tracker.committable() == {P0: 13}
    tracker.acknowledged(P0, 13)
    assert tracker.committable() == {P0: 14}
    assert tracker.unfinished() == 0


def test_message_with_several_outputs_needs_every_ack() -> None:
    tracker = OffsetTracker()
    consume(tracker, P0, range(0, 1), outputs=3)
    tracker.acknowledged(P0, 0)
    tracker.acknowledged(P0, 0)
    assert tracker.committable() == {}
    tracker.acknowledged(P0, 0)
    assert tracker.committable() == {P0: 1}


def test_unprocessed_message_holds_the_watermark_even_with_acks() -> None:
    tracker = OffsetTracker()
    tracker.consumed(P0, 0)
    tracker.expect(P0, 0)
    tracker.acknowledged(P0, 0)  # its first output is delivered but more may follow
    assert tracker.committable() == {}
    tracker.processed(P0, 0)
    assert tracker.committable() == {P0: 1}


def test_message_without_outputs_finishes_when_processed() -> None:
    tracker = OffsetTracker()
    tracker.consumed(P0, 5)
    tracker.processed(P0, 5)
    assert tracker.committable() == {P0: 6}


def test_offset_gaps_are_fine_and_partitions_independent() -> None:
    tracker = OffsetTracker()
    consume(tracker, P0, range(0, 1), outputs=1)
    consume(tracker, P0, range(7, 8), outputs=1)  # compaction or transaction markers
    consume(tracker, P1, range(3, 4), outputs=1)
    tracker.acknowledged(P0, 0)
    tracker.acknowledged(P0, 7)
    assert tracker.committable() == {P0: 8}
    assert tracker.committable([P1]) == {}


def test_committed_offsets_are_not_offered_again() -> None:
    tracker = OffsetTracker()
    consume(tracker, P0, range(0, 2), outputs=1)
    tracker.acknowledged(P0, 0)
    tracker.committed(tracker.committable())
    assert tracker.committable() == {}
    tracker.acknowledged(P0, 1)
    assert tracker.committable() == {P0: 2}


def test_forget_drops_partition_and_ignores_late_acks() -> None:
    tracker = OffsetTracker()
    consume(tracker, P0, range(0, 2), outputs=1)
    tracker.forget([P0])
    tracker.acknowledged(P0, 0)  # delivered after a revocation: nothing to do
    assert tracker.committable() == {}
    tracker.consumed(P0, 0)  # the partition may come back and be read again from 0
    tracker.processed(P0, 0)
    assert tracker.committable() == {P0: 1}


def test_offsets_must_increase_within_a_partition() -> None:
    tracker = OffsetTracker()
    tracker.consumed(P0, 4)
    with pytest.raises(ValueError, match="consumed after"):
        tracker.consumed(P0, 4)
    tracker.processed(P0, 4)
    with pytest.raises(ValueError, match="consumed after"):
        tracker.consumed(P0, 3)


def test_extra_ack_and_unknown_offsets_are_errors() -> None:
    tracker = OffsetTracker()
    tracker.consumed(P0, 0)
    with pytest.raises(ValueError, match="more acknowledgements"):
        tracker.acknowledged(P0, 0)
    with pytest.raises(KeyError, match="not registered"):
        tracker.expect(P0, 9)
