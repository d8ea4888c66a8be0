"""`rbc serve --exactly-once` killed with `kill -9` twice in the middle of a stream, then
restarted: a consumer reading with `isolation.level=read_committed` sees every input message's
output (scored record or dead letter) exactly once, and a `read_uncommitted` one sees at least
everything, with the aborted outputs of the killed runs as duplicates."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from tests.integration import stream_setup
from tests.integration.ops_support import LocalBroker, ServeProcess, unique, wait_for
from tests.integration.stream_helpers import (
    committed,
    high_watermarks,
    input_offsets,
    read_to_end,
    replay_in_background,
    sources,
)
from tests.integration.stream_setup import StreamTopics, start_serve
from tests.support.model_factory import RELAXED_CANARY_ENV, write_tiny_model

BATCH = 8
ROUNDS = 8
KILL_ROUNDS = 24  # a backlog the service cannot finish between two looks at its progress
KILLS = 2
PARTITIONS = 2


def start_exactly_once(
    bootstrap: str,
    topics: StreamTopics,
    model: Path,
    instance: str,
    log: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> ServeProcess:
    """`stream_setup.start_serve` with `--exactly-once`. Every run of one test shares `instance`,
    hence the transactional.id, so each restart fences the killed run and aborts the
    transaction it left open."""

    def exactly_once(log_path: Path, env: dict[str, str], args: list[str] | None = None) -> ServeProcess:
        # Scored records without the packet: smaller topics to read back, the same transactions.
        env = {**RELAXED_CANARY_ENV, **env, "RBC_INSTANCE_ID": instance, "RBC_INCLUDE_PACKET": "false"}
        return ServeProcess(log_path, env, [*(args or []), "--exactly-once"])

    monkeypatch.setattr(stream_setup, "ServeProcess", exactly_once)
    return start_serve(bootstrap, topics, model, log, batch_size=BATCH)


def progress(bootstrap: str, topics: StreamTopics) -> int:
    """Input messages whose offsets the group committed, counting only finished transactions.

    `stream_helpers.committed` reads with read_committed, which asks the broker for stable
    offsets only and so blocks while a killed run's transaction is pending. -1 while the
    broker cannot say (just after it restarted).
    """
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": topics.group, "isolation.level": "read_uncommitted"}
    )
    try:
        parts = [TopicPartition(topics.input, p) for p in range(PARTITIONS)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    except KafkaException:
        return -1
    finally:
        consumer.close()


def tail(run: ServeProcess) -> str:
    """The end of a run's log, also once it has stopped."""
    return f"exit {run.proc.returncode}: " + run.log_path.read_text(errors="replace")[-3000:]


def wait_for_progress(bootstrap: str, topics: StreamTopics, target: int) -> None:
    wait_for(lambda: progress(bootstrap, topics) >= target, 90, f"{target} input messages committed")


def outputs(bootstrap: str, topics: StreamTopics, isolation: str) -> Counter[tuple[int, int]]:
    """How often each input (partition, offset) has an output: its scored record or dead letter."""
    return sources(
        read_to_end(bootstrap, topics.scored, isolation) + read_to_end(bootstrap, topics.dead, isolation)
    )


@pytest.mark.timeout(420)
def test_kill_9_twice_read_committed_sees_each_output_once(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [p.read_bytes() for p in sorted(vendored_alerts.glob("*.avro"))] * KILL_ROUNDS
    model = write_tiny_model(tmp_path / "tiny.onnx")
    topics = StreamTopics.create(bootstrap, "eos", partitions=PARTITIONS)
    instance = unique("eos-test")
    # A backlog keeps the service busy, so each kill lands inside a batch's transaction.
    replay_in_background(bootstrap, topics.input, values, 0.0).join(60)
    assert sum(high_watermarks(bootstrap, topics.input).values()) == len(values)
    for run in range(KILLS):
        serve = start_exactly_once(
            bootstrap, topics, model, instance, tmp_path / f"run{run}.log", monkeypatch
        )
        try:
            wait_for_progress(bootstrap, topics, progress(bootstrap, topics) + 3 * BATCH)
            serve.proc.send_signal(signal.SIGKILL)
            assert serve.proc.wait(10) == -signal.SIGKILL
        finally:
            serve.kill()
    assert progress(bootstrap, topics) < len(values), "killed after the end"

    last = start_exactly_once(bootstrap, topics, model, instance, tmp_path / "last.log", monkeypatch)
    try:
        wait_for(
            lambda: (
                committed(bootstrap, topics.group, topics.input) == high_watermarks(bootstrap, topics.input)
            ),
            120,
            "the last run to catch up",
        )
    finally:
        assert last.stop() == 0, last.log()

    every_input = input_offsets(bootstrap, topics.input)
    seen = outputs(bootstrap, topics, "read_committed")
    assert set(seen) == every_input  # nothing lost
    assert [k for k, n in seen.items() if n > 1] == []  # nothing twice
    labelling = sources(read_to_end(bootstrap, topics.labelling, "read_committed"))
    assert [k for k, n in labelling.items() if n > 1] == []

    raw = outputs(bootstrap, topics, "read_uncommitted")
    assert set(raw) == every_input
    duplicates = sum(n - 1 for n in raw.values())
    print(f"exactly_once inputs={len(every_input)} read_uncommitted_duplicates={duplicates}")


@pytest.mark.timeout(420)
def test_broker_crash_and_restart_read_committed_sees_each_output_once(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `bootstrap` only to run where the test broker (and so its jars) was set up; this test
    # crashes a private broker of its own.
    broker = LocalBroker(tmp_path / "broker")
    broker.start()
    runs: list[ServeProcess] = []
    try:
        here = broker.bootstrap
        values = [p.read_bytes() for p in sorted(vendored_alerts.glob("*.avro"))] * ROUNDS
        model = write_tiny_model(tmp_path / "tiny.onnx")
        topics = StreamTopics.create(here, "eos-broker", partitions=PARTITIONS)
        instance = unique("eos-test")
        replay_in_background(here, topics.input, values, 0.0).join(60)
        first = start_exactly_once(here, topics, model, instance, tmp_path / "first.log", monkeypatch)
        runs.append(first)
        wait_for_progress(here, topics, 3 * BATCH)
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGKILL)  # a crash: no clean shutdown, same data after
        broker.proc.wait(30)
        broker.start()
        wait_for(lambda: not first.alive() or progress(here, topics) == len(values), 180, "exit or end")
        last = first
        if not first.alive():  # a failed transaction stops the service; a supervisor restarts it
            assert first.proc.returncode == 1, first.log()[-3000:]
            last = start_exactly_once(here, topics, model, instance, tmp_path / "second.log", monkeypatch)
            runs.append(last)
        wait_for_progress(here, topics, len(values))
        assert last.stop() == 0, tail(last)

        every_input = input_offsets(here, topics.input)
        seen = outputs(here, topics, "read_committed")
        assert set(seen) == every_input
        assert [k for k, n in seen.items() if n > 1] == []
        duplicates = sum(n - 1 for n in outputs(here, topics, "read_uncommitted").values())
        print(f"exactly_once_broker_crash restarts={len(runs) - 1} read_uncommitted_duplicates={duplicates}")
    finally:
        for run in runs:
            run.kill()
        broker.stop()


@pytest.mark.timeout(300)
def test_a_second_instance_with_the_same_id_fences_the_first(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [p.read_bytes() for p in sorted(vendored_alerts.glob("*.avro"))] * ROUNDS
    model = write_tiny_model(tmp_path / "tiny.onnx")
    topics = StreamTopics.create(bootstrap, "eos-fenced", partitions=PARTITIONS)
    instance = unique("eos-test")
    first = start_exactly_once(bootstrap, topics, model, instance, tmp_path / "first.log", monkeypatch)
    second: ServeProcess | None = None
    try:
        second = start_exactly_once(bootstrap, topics, model, instance, tmp_path / "second.log", monkeypatch)
        replay_in_background(bootstrap, topics.input, values, 0.0).join(60)
        assert first.proc.wait(120) == 1, first.log()[-3000:]
        failed = [line for line in first.log().splitlines() if "serve_failed" in line]
        assert len(failed) == 1 and "FENCED" in failed[0].upper() and "--instance-id" in failed[0]
        wait_for_progress(bootstrap, topics, len(values))  # the second instance serves on
        assert second.stop() == 0, second.log()[-3000:]
    finally:
        first.kill()
        if second is not None:
            second.kill()
    seen = outputs(bootstrap, topics, "read_committed")
    assert set(seen) == input_offsets(bootstrap, topics.input)
    assert [k for k, n in seen.items() if n > 1] == []


@pytest.mark.timeout(300)
def test_rebalances_under_traffic_read_committed_sees_each_output_once(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [p.read_bytes() for p in sorted(vendored_alerts.glob("*.avro"))] * ROUNDS
    model = write_tiny_model(tmp_path / "tiny.onnx")
    topics = StreamTopics.create(bootstrap, "eos-rebalance", partitions=PARTITIONS)
    first = start_exactly_once(bootstrap, topics, model, unique("a"), tmp_path / "a.log", monkeypatch)
    runs = [first]
    try:
        replaying = replay_in_background(bootstrap, topics.input, values, 40.0)
        wait_for_progress(bootstrap, topics, 3 * BATCH)
        # A second member joins (partitions move to it), then the first leaves (they move back).
        runs.append(
            start_exactly_once(bootstrap, topics, model, unique("b"), tmp_path / "b.log", monkeypatch)
        )
        wait_for_progress(bootstrap, topics, progress(bootstrap, topics) + 3 * BATCH)
        assert first.stop() == 0, tail(first)
        replaying.join(60)
        wait_for_progress(bootstrap, topics, len(values))
        assert runs[1].stop() == 0, tail(runs[1])
    finally:
        for run in runs:
            run.kill()
    assert "partitions_revoked" in tail(first)
    seen = outputs(bootstrap, topics, "read_committed")
    assert set(seen) == input_offsets(bootstrap, topics.input)
    assert [k for k, n in seen.items() if n > 1] == []
