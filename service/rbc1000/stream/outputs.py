"""The output records of the run loop, built from an input message and its outcome; no I/O.

- `scored_record`: the scored Avro record of `rbc1000.stream.records` on the scored topic,
  in the output framing (`RecordFramer`: Avro container, or Confluent with the registry's
  id), key = object id;
- `labelling_copy`: the same record on the labelling topic (framed with that topic's id);
- `dead_letter_record`: the ORIGINAL message bytes and key on the dead-letter topic, so the
  topic can be replayed into the input once the cause is fixed, with the reason in headers:
  the project's `rbc.error.reason` (a `Reason` value), `rbc.error.detail` (at most
  `MAX_DETAIL_BYTES`) and `rbc.record.index` (the record's position inside the message), and
  Kafka Connect's standard error headers (`CONNECT_ERROR_HEADERS`) so existing DLQ tooling
  reads them too.

Every output carries the `source_headers` of its input message (`rbc.source.topic`,
`rbc.source.partition`, `rbc.source.offset`, `rbc.source.timestamp_ms`, -1 when the message
has no timestamp), so it can be traced back to the input offset it came from.
"""

from __future__ import annotations

import dataclasses

from rbc1000.alerts.framing import RecordFramer
from rbc1000.model.contract import ModelInfo
from rbc1000.model.decisions import ScoredAlert
from rbc1000.ops.settings import ServeSettings
from rbc1000.stream.kafka_io import Headers, Message, OutputRecord
from rbc1000.stream.records import ScoredRecord, encode_kafka

MAX_DETAIL_BYTES = 1000
# Kafka Connect's dead-letter headers (`errors.deadletterqueue.context.headers.enable`).
CONNECT_ERROR_HEADERS = (
    "__connect.errors.topic",
    "__connect.errors.partition",
    "__connect.errors.offset",
    "__connect.errors.exception.class.name",
    "__connect.errors.exception.message",
)


def source_headers(message: Message) -> Headers:
    """Where an output came from: the input message's topic, partition, offset and timestamp."""
    return (
        ("rbc.source.topic", message.topic.encode()),
        ("rbc.source.partition", str(message.partition).encode()),
        ("rbc.source.offset", str(message.offset).encode()),
        ("rbc.source.timestamp_ms", str(message.timestamp_ms or -1).encode()),
    )


def scored_record(
    message: Message, scored: ScoredAlert, info: ModelInfo, settings: ServeSettings, framer: RecordFramer
) -> OutputRecord:
    """The scored record of one alert of `message`, with the packet when the settings ask for it."""
    packet = message.value if settings.include_packet else None
    record = ScoredRecord.build(scored, info, packet)
    value = encode_kafka(record, settings.scored_topic, framer)
    return OutputRecord(settings.scored_topic, value, record.object_id.encode(), source_headers(message))


def labelling_copy(scored: OutputRecord, settings: ServeSettings, framer: RecordFramer) -> OutputRecord:
    """The same scored record (key, headers) for the labelling topic, framed for that topic."""
    topic = settings.labelling_topic
    return dataclasses.replace(scored, topic=topic, value=framer.reframe(scored.value, topic))


def dead_letter_record(
    message: Message, reason: str, detail: str, record_index: int, settings: ServeSettings
) -> OutputRecord:
    """The original message for the dead-letter topic, with why and where in its headers."""
    headers: Headers = (
        ("rbc.error.reason", reason.encode()),
        ("rbc.error.detail", detail.encode(errors="replace")[:MAX_DETAIL_BYTES]),
        *source_headers(message),
        ("rbc.record.index", str(record_index).encode()),
        *connect_error_headers(message, reason, detail),
    )
    return OutputRecord(settings.dead_letter_topic, message.value or b"", message.key, headers)


def connect_error_headers(message: Message, reason: str, detail: str) -> Headers:
    """Kafka Connect's dead-letter headers; the exception class is the project's `Reason`."""
    values = (
        message.topic,
        str(message.partition),
        str(message.offset),
        f"rbc1000.reasons.Reason.{reason}",
        f"{reason}: {detail}",
    )
    return tuple(
        (name, value.encode(errors="replace")[:MAX_DETAIL_BYTES])
        for name, value in zip(CONNECT_ERROR_HEADERS, values, strict=True)
    )
