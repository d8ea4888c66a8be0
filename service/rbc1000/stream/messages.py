"""The frozen records the stream works with: an input partition, a consumed message and an
output record to produce; no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Headers = tuple[tuple[str, bytes], ...]


class Partition(NamedTuple):
    """One input partition: (topic, partition number)."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Message:
    """One consumed Kafka message. `timestamp_ms` is the broker's or producer's timestamp."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int | None = None

    @property
    def source(self) -> Partition:
        return Partition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """One message to produce. `smaller` builds the lean form the producer sends instead when
    the broker or the client refuses this one as too large (`rbc1000.stream.outputs`)."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers = ()
    smaller: Callable[[], OutputRecord] | None = field(default=None, compare=False, repr=False)


def message_from_kafka(m: Any) -> Message:
    """A frozen `Message` from a confluent-kafka message without error."""
    _, ts = m.timestamp()
    headers = tuple(
        (str(k), v if isinstance(v, bytes) else (v or "").encode()) for k, v in (m.headers() or ())
    )
    return Message(
        str(m.topic()),
        int(m.partition()),
        int(m.offset()),
        m.key(),
        m.value(),
        headers,
        ts if ts > 0 else None,
    )
