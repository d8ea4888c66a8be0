"""Collecting a batch: size cap, maximum wait from the first message, idle return, stop, and
dropping the pending messages of revoked partitions."""

from __future__ import annotations

from rbc1000.stream.batcher import IDLE_POLL_S, Batcher
from rbc1000.stream.kafka_io import Partition
from rbc1000.stream.loop import StopFlag
from rbc1000.stream.offsets import OffsetTracker
from tests.support.kafka_fakes import FakeClock, FakeSource, messages

P0, P1 = Partition("in", 0), Partition("in", 1)


class Listener:
    """A rebalance listener that ignores everything (the batcher never sees rebalances)."""

    def on_assign(self, partitions: list[Partition]) -> None: ...

    def on_revoke(self, partitions: list[Partition]) -> None: ...

    def on_lost(self, partitions: list[Partition]) -> None: ...


def batcher(source: FakeSource, size: int = 4, stop: StopFlag | None = None) -> Batcher:
    """A batcher (maximum wait 0.25 s) over `source`, whose clock (a new one if it has none)
    moves on at each empty consume."""
    source.listener = Listener()
    source.clock = source.clock or FakeClock()
    return Batcher(source, OffsetTracker(), size, 0.25, stop or StopFlag(), source.clock)


def test_batch_stops_at_the_size_cap() -> None:
    source = FakeSource.of(messages([b"x"] * 10))
    collect = batcher(source, size=4).collect
    assert [len(collect()) for _ in range(4)] == [4, 4, 2, 0]


def test_batch_closes_at_max_wait_after_first_message() -> None:
    # One message per consume, 0.1 s apart: the batch takes those asked for before +0.25 s.
    clock = FakeClock()
    source = FakeSource.of(messages([b"x"] * 10), per_call=1, clock=clock, step_s=0.1)
    assert [m.offset for m in batcher(source, size=100).collect()] == [0, 1, 2, 3]


def test_idle_source_returns_an_empty_batch_after_one_wait() -> None:
    clock = FakeClock()
    source = FakeSource.of([], clock=clock)
    assert batcher(source).collect() == []
    assert source.calls == 1
    assert clock.now == IDLE_POLL_S


def test_stop_request_returns_without_consuming() -> None:
    stop = StopFlag()
    stop.set()
    source = FakeSource.of(messages([b"x"]))
    assert batcher(source, stop=stop).collect() == []
    assert source.calls == 0


def test_messages_are_registered_with_the_tracker_as_read() -> None:
    source = FakeSource.of(messages([b"x"] * 3))
    b = batcher(source)
    b.collect()
    assert b.tracker.unfinished(P0) == 3


def test_work_runs_after_every_consume() -> None:
    source = FakeSource.of(messages([b"x"] * 3), per_call=1)
    calls: list[int] = []
    b = batcher(source, size=3)
    b.while_waiting = lambda: calls.append(source.calls)
    b.collect()
    assert calls == [1, 2, 3]


def test_drop_forgets_pending_messages_of_revoked_partitions() -> None:
    queue = messages([b"a"], partition=1) + messages([b"b"] * 3, partition=0)
    source = FakeSource.of(queue, per_call=1)
    b = batcher(source, size=3)
    source.script[2] = lambda _src: b.drop({P1})  # revoked while the batch is being collected
    assert [(m.partition, m.offset) for m in b.collect()] == [(0, 0), (0, 1), (0, 2)]
