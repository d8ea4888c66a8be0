"""Limits of `rbc serve` against the real broker: no input can stop the stream by its size, and
a lost broker ends the process (exit 1, nothing more committed) instead of hanging it.

- A legal 1.2 MB alert is scored without its packet (`rbc.packet: omitted-oversized`), a 10 MB
  random message is dead-lettered as `oversized` without its value, everything is committed,
  and the output topics the service created carry `max.message.bytes` = `message_max_bytes`.
- A scored topic whose `max.message.bytes` is below the records' size makes the broker refuse
  them; the producer sends their lean form instead and the stream goes on.
- A broker frozen (SIGSTOP) while outputs are in flight: the service exits 1 on its own.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from rbc1000.stream.records import decode_kafka
from tests.integration.ops_support import LocalBroker, ServeProcess, header, unique, wait_for
from tests.integration.stream_helpers import committed, count, read_all
from tests.integration.stream_setup import StreamTopics, serve_env
from tests.support import hostile
from tests.support.model_factory import write_tiny_model

pytestmark = pytest.mark.integration
BIG_INPUT_BYTES = 16 << 20


def env(bootstrap: str, topics: StreamTopics, model: Path, **extra: str) -> dict[str, str]:
    return serve_env(bootstrap, topics, model, 16, **extra)


def names(prefix: str) -> StreamTopics:
    return StreamTopics(*(unique(f"{prefix}-{n}") for n in ("in", "scored", "labelling", "dead", "group")))


def create(bootstrap: str, topic: str, max_message_bytes: int) -> None:
    config = {"max.message.bytes": str(max_message_bytes)}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1, config=config)]).values():
        future.result(30)


def publish(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": BIG_INPUT_BYTES})
    for value in values:
        producer.produce(topic, value)
        producer.poll(0)
    assert producer.flush(60) == 0


def outputs(bootstrap: str, topic: str) -> int:
    """Messages in `topic`; 0 while it is being created."""
    try:
        return count(bootstrap, topic)
    except KafkaException:
        return 0


def topic_max_bytes(bootstrap: str, topic: str) -> int:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    configs = admin.describe_configs([resource])[resource].result(30)
    return int(configs["max.message.bytes"].value)


def test_oversized_inputs_are_scored_or_dead_lettered_and_committed(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path
) -> None:
    topics = names("limits")
    create(bootstrap, topics.input, BIG_INPUT_BYTES)
    normal = sorted(vendored_alerts.glob("fink-broker__*.avro"))[0].read_bytes()
    big, noise = hostile.big_legal_alert(), hostile.random_message()
    publish(bootstrap, topics.input, [normal, big, noise])
    serve = ServeProcess(
        tmp_path / "serve.log", env(bootstrap, topics, write_tiny_model(tmp_path / "m.onnx"))
    )
    try:
        wait_for(
            lambda: not serve.alive() or committed(bootstrap, topics.group, topics.input) == {0: 3},
            120,
            "all three inputs committed",
        )
        assert serve.alive(), serve.log()[-3000:]
        scored = read_all(bootstrap, topics.scored)
        dead = read_all(bootstrap, topics.dead)
        for topic in (topics.scored, topics.labelling, topics.dead):
            assert topic_max_bytes(bootstrap, topic) == 1_000_000
    finally:
        assert serve.stop() == 0
    by_offset = {int(header(m, "rbc.source.offset") or -1): m for m in scored}
    assert sorted(by_offset) == [0, 1]
    assert decode_kafka(by_offset[0].value())["alert_packet"] == normal
    assert header(by_offset[0], "rbc.packet") is None
    assert decode_kafka(by_offset[1].value())["alert_packet"] is None
    assert header(by_offset[1], "rbc.packet") == "omitted-oversized"
    assert len(dead) == 1
    assert (header(dead[0], "rbc.error.reason"), header(dead[0], "rbc.source.offset")) == ("oversized", "2")
    assert header(dead[0], "rbc.value.bytes") == str(len(noise))
    assert not dead[0].value()


def test_a_topic_refusing_full_records_gets_their_lean_form(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path
) -> None:
    topics = names("lean")
    packets = [p.read_bytes() for p in sorted(vendored_alerts.glob("fink-broker__*.avro"))[:6]]
    small_limit = min(len(p) for p in packets) // 2
    create(bootstrap, topics.input, BIG_INPUT_BYTES)
    create(bootstrap, topics.scored, small_limit)
    publish(bootstrap, topics.input, packets)
    serve = ServeProcess(
        tmp_path / "serve.log", env(bootstrap, topics, write_tiny_model(tmp_path / "m.onnx"))
    )
    try:
        wait_for(
            lambda: (
                not serve.alive() or committed(bootstrap, topics.group, topics.input) == {0: len(packets)}
            ),
            120,
            "every input committed",
        )
        assert serve.alive(), serve.log()[-3000:]
        scored = read_all(bootstrap, topics.scored)
    finally:
        assert serve.stop() == 0
    assert sorted(int(header(m, "rbc.source.offset") or -1) for m in scored) == list(range(len(packets)))
    assert all(header(m, "rbc.packet") == "omitted-oversized" for m in scored)
    assert all(decode_kafka(m.value())["alert_packet"] is None for m in scored)


def test_a_frozen_broker_ends_the_service_with_exit_1(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path
) -> None:
    # `bootstrap` only to run where the test broker (and so its jars) was set up.
    broker = LocalBroker(tmp_path / "broker")
    broker.start()
    serve = None
    try:
        topics = names("frozen")
        packets = [p.read_bytes() for p in sorted(vendored_alerts.glob("*.avro"))]
        create(broker.bootstrap, topics.input, BIG_INPUT_BYTES)
        publish(broker.bootstrap, topics.input, packets * 40)
        limits = {"RBC_FLUSH_TIMEOUT_S": "5", "RBC_COMMIT_TIMEOUT_S": "5", "RBC_BATCH_SIZE": "4"}
        serve = ServeProcess(
            tmp_path / "serve.log",
            env(broker.bootstrap, topics, write_tiny_model(tmp_path / "m.onnx"), **limits),
        )
        wait_for(
            lambda: not serve.alive() or outputs(broker.bootstrap, topics.scored) > 0, 120, "first output"
        )
        assert broker.proc is not None
        os.kill(broker.proc.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        assert serve.proc.wait(300) == 1, serve.log()[-3000:]
        print(json.dumps({"exit_after_broker_frozen_s": round(time.monotonic() - frozen_at, 1)}))
        assert "serve_failed" in serve.log()
    finally:
        if broker.proc is not None and broker.proc.poll() is None:
            os.kill(broker.proc.pid, signal.SIGCONT)
        if serve is not None:
            serve.kill()
        broker.stop()
