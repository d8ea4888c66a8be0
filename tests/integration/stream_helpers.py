"""Reading topics exactly, and looking at consumer groups, for the streaming tests."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from rbc1000.stream.kafka_io import KafkaProducer
from rbc1000.stream.replay import Outgoing, replay
from tests.integration.ops_support import header, unique


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    """Partition -> high watermark (offset after the last message)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("hw")})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        consumer.close()


def count(bootstrap: str, topic: str) -> int:
    """Messages in a topic (sum of high watermarks; topics here are never truncated)."""
    return sum(high_watermarks(bootstrap, topic).values())


def read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every message of `topic` up to the high watermarks taken now, exactly once each."""
    highs = high_watermarks(bootstrap, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("reader"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p, h in highs.items() if h > 0])
    out: list[Any] = []
    done = {p: h == 0 for p, h in highs.items()}
    deadline = time.monotonic() + timeout_s
    try:
        while not all(done.values()):
            assert time.monotonic() < deadline, f"reading {topic} timed out: {done}"
            for m in consumer.consume(num_messages=500, timeout=0.5):
                part, offset = int(m.partition() or 0), int(m.offset() or 0)
                if m.error() is not None or offset >= highs[part]:
                    continue
                out.append(m)
                done[part] = done[part] or offset + 1 >= highs[part]
    finally:
        consumer.close()
    return out


def read_to_end(
    bootstrap: str, topic: str, isolation: str = "read_committed", timeout_s: float = 60.0
) -> list[Any]:
    """Every message of `topic` a consumer with this `isolation.level` reads, up to the end.

    The end of each partition is its end-of-partition event, not its last offset: in a topic
    written by `--exactly-once` the last offsets are transaction markers no consumer receives,
    and a transaction still open holds read_committed back (and times this out).
    """
    highs = high_watermarks(bootstrap, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("reader"),
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in highs])
    out: list[Any] = []
    ended: set[int] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(ended) < len(highs):
            assert time.monotonic() < deadline, f"{isolation} reading {topic} timed out at {ended}"
            for m in consumer.consume(num_messages=500, timeout=0.5):
                err, part = m.error(), int(m.partition() or 0)
                if err is None:
                    out.append(m)
                elif err.code() == KafkaError._PARTITION_EOF and int(m.offset() or 0) >= highs[part]:
                    ended.add(part)
    finally:
        consumer.close()
    return out


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets per partition (-1001 where nothing is committed)."""
    parts = high_watermarks(bootstrap, topic)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def group_assignment(bootstrap: str, group: str) -> list[set[int]]:
    """Partitions assigned to each member of a stable group; [] while it is rebalancing."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    if str(description.state).rsplit(".", 1)[-1] != "STABLE":
        return []
    return [{tp.partition for tp in m.assignment.topic_partitions} for m in description.members]


def sources(messages: Iterable[Any]) -> Counter[tuple[int, int]]:
    """How often each input (partition, offset) appears among outputs (rbc.source.* headers)."""
    return Counter(
        (int(header(m, "rbc.source.partition") or -1), int(header(m, "rbc.source.offset") or -1))
        for m in messages
    )


def input_offsets(bootstrap: str, topic: str) -> set[tuple[int, int]]:
    """Every (partition, offset) of the input topic."""
    return {(p, o) for p, h in high_watermarks(bootstrap, topic).items() for o in range(h)}


def stopped_stats(log: str) -> dict[str, int]:
    """The counts of the `stream_stopped` line a cleanly stopped `rbc serve` logs."""
    match = re.search(r"stream_stopped ((?:\w+=\d+ ?)+)", log)
    assert match, f"no stream_stopped line in the log:\n{log[-3000:]}"
    return {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}


def replay_in_background(
    bootstrap: str, topic: str, values: list[bytes], rate_per_s: float
) -> threading.Thread:
    """Publish `values` (keyed by position) at a fixed rate from a thread; join() to wait."""

    def work() -> None:
        producer = KafkaProducer({"bootstrap.servers": bootstrap})
        msgs = [Outgoing(f"m{i}".encode(), v) for i, v in enumerate(values)]
        replay(msgs, producer, topic, rate_per_s)

    thread = threading.Thread(target=work, name="replay", daemon=True)
    thread.start()
    return thread
