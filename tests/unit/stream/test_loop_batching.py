"""The run loop's batching: size cap, maximum wait after the first message, drain on stop."""

from __future__ import annotations

import pytest

from rbc1000.model.scoring import Scorer
from rbc1000.stream.loop import StopFlag
from tests.support.kafka_fakes import (
    FakeClock,
    FakeSink,
    FakeSource,
    each_decode_path,
    messages,
    processor,
    vendored,
)

pytestmark = pytest.mark.usefixtures(each_decode_path.__name__)


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    return vendored("fink-broker__*")[:10]


def test_batches_never_exceed_batch_size(scorer: Scorer, packets: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(packets)), FakeSink()
    stats = processor(source, sink, scorer, batch_size=4).run()
    assert [len(s) for s in sink.flushed_sources] == [4, 4, 2]
    assert stats.scored == len(packets)
    assert source.committed == {("in", 0): len(packets)}


def test_batch_closes_at_max_wait_after_first_message(scorer: Scorer, packets: list[bytes]) -> None:
    # One message per consume, 0.1 s apart; max wait 0.25 s: the batch started by the first
    # message takes those arriving at +0.1, +0.2 and +0.3 (asked for before +0.25) and closes.
    clock = FakeClock()
    source = FakeSource.of(messages(packets), per_call=1, clock=clock, step_s=0.1)
    sink = FakeSink()
    processor(source, sink, scorer, batch_size=100, batch_max_wait_s=0.25).run()
    sizes = [len(s) for s in sink.flushed_sources]
    assert sizes == [4, 4, 2]
    assert max(sizes) < 100


def test_stop_drains_the_batch_in_hand_and_commits(scorer: Scorer, packets: list[bytes]) -> None:
    stop = StopFlag()
    source = FakeSource.of(messages(packets), per_call=1)
    source.script[3] = lambda _src: stop.set()  # SIGTERM while the third message is read
    source.stop = stop
    sink = FakeSink()
    stats = processor(source, sink, scorer, batch_size=100).run()
    assert stats.messages == 3
    assert len(sink.on("rbc.scored")) == 3
    assert source.committed == {("in", 0): 3}
    assert len(source.queue) == len(packets) - 3  # the rest stays for the next run


def test_idle_stream_commits_nothing(scorer: Scorer) -> None:
    source, sink = FakeSource.of([]), FakeSink()
    stats = processor(source, sink, scorer).run()
    assert stats.batches == 0
    assert sink.records == []
    assert source.commit_calls == []


def test_second_stop_signal_interrupts_at_once() -> None:
    stop = StopFlag()
    stop.set()
    assert stop.requested
    with pytest.raises(KeyboardInterrupt):
        stop.set()
