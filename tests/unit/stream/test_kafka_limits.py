"""The client-side pieces of bounded exits and truthful readiness: a call with a time bound,
broker states from librdkafka's statistics, and batch sizes that follow the time budget."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import KafkaException

from rbc1000.stream.batcher import Batcher
from rbc1000.stream.bounded_call import bounded
from rbc1000.stream.kafka_io import KafkaProducer, OutputRecord, brokers_up
from rbc1000.stream.loop import StopFlag
from rbc1000.stream.offsets import OffsetTracker
from tests.support.kafka_fakes import FakeClock, FakeSource


def test_bounded_returns_the_result_or_raises_the_exception() -> None:
    assert bounded(lambda: 42, 5.0, "t") == 42
    with pytest.raises(ValueError, match="boom"):
        bounded(lambda: (_ for _ in ()).throw(ValueError("boom")), 5.0, "t")


def test_bounded_gives_up_on_a_call_that_never_returns() -> None:
    never = threading.Event()
    with pytest.raises(TimeoutError, match="stuck"):
        bounded(lambda: never.wait(), 0.05, "stuck")
    never.set()


def stats(*states: tuple[str, str]) -> dict[str, object]:
    return {"brokers": {f"b{i}": {"state": s, "source": src} for i, (s, src) in enumerate(states)}}


def test_brokers_up_counts_real_brokers_only() -> None:
    assert brokers_up(stats(("UP", "learned"), ("UP", "logical")))
    assert brokers_up(stats(("DOWN", "learned"), ("UP", "configured")))
    assert not brokers_up(stats(("DOWN", "learned"), ("UP", "logical"), ("UP", "internal")))
    assert not brokers_up(stats(("CONNECT", "learned"), ("TRY_CONNECT", "configured")))
    assert not brokers_up({})


def test_batches_halve_over_the_budget_and_grow_back_under_half_of_it() -> None:
    clock = FakeClock()
    batcher = Batcher(FakeSource.of([]), OffsetTracker(), 16, 0.2, StopFlag(), clock)
    batcher.fit(16, elapsed_s=40.0, budget_s=30.0)
    assert batcher.limit == 8
    batcher.fit(8, elapsed_s=31.0, budget_s=30.0)
    assert batcher.limit == 4
    batcher.fit(4, elapsed_s=20.0, budget_s=30.0)  # within the budget, not under half: unchanged
    assert batcher.limit == 4
    batcher.fit(4, elapsed_s=1.0, budget_s=30.0)
    assert batcher.limit == 8
    for _ in range(5):
        batcher.fit(8, elapsed_s=1.0, budget_s=30.0)
    assert batcher.limit == 16
    batcher.fit(1, elapsed_s=99.0, budget_s=30.0)  # one message cannot be split
    assert batcher.limit == 16


def test_a_record_the_client_refuses_as_too_large_goes_out_in_its_smaller_form() -> None:
    # librdkafka checks message.max.bytes when a record is queued, before any broker is asked.
    producer = KafkaProducer({"bootstrap.servers": "127.0.0.1:1"}, message_max_bytes=10_000)
    lean = OutputRecord("out", b"lean")
    built: list[OutputRecord] = []

    def smaller() -> OutputRecord:
        built.append(lean)
        return lean

    producer.produce(OutputRecord("out", b"x" * 20_000, smaller=smaller), lambda: None)
    assert built == [lean]
    with pytest.raises(KafkaException, match="MSG_SIZE_TOO_LARGE"):
        producer.produce(OutputRecord("out", b"x" * 20_000), lambda: None)
