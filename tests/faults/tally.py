"""Counting a case's outcome from the topics themselves, not from what the service says.

Every output carries `rbc.source.partition` and `rbc.source.offset`, so each input message
is matched with its scored records and dead letters: lost inputs have neither, and a scored
record seen twice for the same input and key is a duplicate. Outputs are read as a downstream
consumer reads them by default, with `isolation.level=read_committed`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from tests.faults.report import CaseReport
from tests.integration.ops_support import header, unique
from tests.integration.stream_helpers import high_watermarks, input_offsets
from tests.integration.stream_setup import StreamTopics

Offset = tuple[int, int]


def source(message: object) -> Offset:
    return (
        int(header(message, "rbc.source.partition") or -1),
        int(header(message, "rbc.source.offset") or -1),
    )


@dataclass
class Tally:
    inputs: set[Offset]
    scored: Counter[Offset] = field(default_factory=Counter)
    dead_reasons: dict[Offset, list[str]] = field(default_factory=dict)
    scored_records: int = 0
    dead_letters: int = 0
    duplicated: int = 0

    @property
    def lost(self) -> set[Offset]:
        return self.inputs - set(self.scored) - set(self.dead_reasons)

    def into(self, report: CaseReport) -> None:
        report.inputs = len(self.inputs)
        report.scored = self.scored_records
        report.dead_lettered = self.dead_letters
        report.lost = len(self.lost)
        report.duplicated = self.duplicated
        if self.lost:
            report.notes["lost_offsets"] = sorted(self.lost)[:20]


def read_committed(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every message of `topic` a read_committed consumer (the default) sees, up to the end.

    The end of each partition is its end-of-partition event, not its last offset: in a topic
    written by `--exactly-once` the last offsets are transaction markers no consumer receives.
    """
    highs = high_watermarks(bootstrap, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("faults-reader"),
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in highs])
    out: list[Any] = []
    ended: set[int] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(ended) < len(highs):
            assert time.monotonic() < deadline, f"reading {topic} timed out; partitions ended: {ended}"
            for m in consumer.consume(num_messages=500, timeout=0.5):
                err, part = m.error(), int(m.partition() or 0)
                if err is None:
                    out.append(m)
                elif err.code() == KafkaError._PARTITION_EOF and int(m.offset() or 0) >= highs[part]:
                    ended.add(part)
    finally:
        consumer.close()
    return out


def tally(bootstrap: str, topics: StreamTopics) -> Tally:
    """Read the input, scored and dead-letter topics of `topics` to their ends and match them."""
    result = Tally(input_offsets(bootstrap, topics.input))
    per_key: Counter[tuple[int, int, bytes]] = Counter()
    for message in read_committed(bootstrap, topics.scored):
        part, offset = source(message)
        result.scored[(part, offset)] += 1
        per_key[(part, offset, bytes(message.key() or b""))] += 1
        result.scored_records += 1
    result.duplicated = sum(n - 1 for n in per_key.values())
    for message in read_committed(bootstrap, topics.dead):
        result.dead_reasons.setdefault(source(message), []).append(header(message, "rbc.error.reason") or "?")
        result.dead_letters += 1
    return result
