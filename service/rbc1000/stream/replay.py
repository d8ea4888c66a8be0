"""Publish alert files into a Kafka topic at a chosen rate: for tests, demos and backfills.

Two framings, as the surveys publish them:

- `container` (ZTF style): each file (or tarball member) becomes one message, its bytes
  unchanged: an Avro object container holding one alert, or several (Fink's multi-record
  files). Key: the file name, so alerts spread over partitions deterministically.
- `confluent` (Rubin and WFST style): every record of every container is re-encoded as a
  schemaless Avro body behind the 5-byte Confluent header (magic byte 0, big-endian schema
  id). The body is written with the schema that the id names (looked up like the decoder
  does: `schemas/<survey>/<major>/<minor>/` or a registry; Rubin ids are major*100+minor,
  e.g. 900 for lsst.v9_0), because a consumer reads it with exactly that schema; the file's
  own writer schema may differ (Spark rewrites reorder fields). Key: file name and index.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro

from rbc1000.alerts.framing import Framing, confluent_frame
from rbc1000.alerts.registry import SchemaRegistry
from rbc1000.alerts.sources import Packet, SourceError, iter_packets
from rbc1000.stream.kafka_io import MessageSink, OutputRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplayStats:
    """What one replay sent."""

    messages: int
    acknowledged: int
    seconds: float

    @property
    def rate_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish: key and value."""

    key: bytes | None
    value: bytes


def container_to_confluent(data: bytes, schema_id: int, schema: Any) -> list[bytes]:
    """Re-encode each record of an Avro container with `schema` (parsed, the one `schema_id`
    names) as a Confluent-framed schemaless body."""
    frames = []
    for record in fastavro.reader(io.BytesIO(data)):
        body = io.BytesIO()
        fastavro.schemaless_writer(body, schema, record)
        frames.append(confluent_frame(schema_id, body.getvalue()))
    return frames


def framing_schema(schema_id: int, schema_dir: Path | None = None, registry_url: str | None = None) -> Any:
    """The parsed writer schema a Confluent schema id names, resolved as the decoder does."""
    schema = SchemaRegistry(schema_dir, registry_url).get(schema_id)
    return fastavro.parse_schema(schema, named_schemas={})


def iter_outgoing(
    paths: Iterable[str | Path],
    framing: Framing = "container",
    schema_id: int | None = None,
    schema: Any = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[Outgoing]:
    """Messages to publish for `paths` (files, directories, tarballs), in path order.

    Confluent framing needs `schema_id` and its parsed `schema` (`framing_schema`).
    Unreadable files, and files that cannot be re-encoded under confluent framing, are
    reported to `on_skip(path, reason)` and passed over.
    """
    if framing == "confluent" and (schema_id is None or schema is None):
        raise ValueError("confluent framing needs a schema id and its schema")
    for item in iter_packets(paths):
        if isinstance(item, SourceError):
            if on_skip is not None:
                on_skip(item.path, str(item.error))
            continue
        yield from _outgoing_of(item, framing, schema_id, schema, on_skip)


def _outgoing_of(
    packet: Packet,
    framing: Framing,
    schema_id: int | None,
    schema: Any,
    on_skip: Callable[[str, str], None] | None,
) -> Iterator[Outgoing]:
    name = Path(packet.path.rpartition("::")[2] or packet.path).name
    if framing == "container" or schema_id is None:
        yield Outgoing(name.encode(), packet.data)
        return
    try:
        frames = container_to_confluent(packet.data, schema_id, schema)
    except Exception as exc:  # fastavro raises several types for what does not fit
        if on_skip is not None:
            on_skip(packet.path, f"cannot re-encode with schema id {schema_id}: {exc}")
        return
    for i, frame in enumerate(frames):
        yield Outgoing(f"{name}:{i}".encode(), frame)


def replay(
    messages: Iterable[Outgoing],
    sink: MessageSink,
    topic: str,
    rate_per_s: float = 0.0,
    flush_timeout_s: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int], None] | None = None,
) -> ReplayStats:
    """Produce `messages` to `topic`, message i no earlier than start + i / rate_per_s.

    `rate_per_s` 0 sends as fast as the producer takes them. Waits for every acknowledgement
    (raises DeliveryError if one fails) and returns what was sent.
    """
    acked = [0]

    def delivered() -> None:
        acked[0] += 1

    start = clock()
    sent = 0
    for message in messages:
        if rate_per_s > 0:
            wait = start + sent / rate_per_s - clock()
            if wait > 0:
                sleep(wait)
        sink.produce(OutputRecord(topic, message.value, message.key), delivered)
        sink.poll()
        sent += 1
        if progress is not None:
            progress(1)
    sink.flush(flush_timeout_s)
    return ReplayStats(sent, acked[0], clock() - start)
