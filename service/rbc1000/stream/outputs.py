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

Outputs fit the producer's `message_max_bytes` (no input can make a produce fail for good):

- a scored or labelling record that would not fit carries no packet (`alert_packet` null) and
  the header `rbc.packet: omitted-oversized`;
- a dead letter whose original bytes would not fit becomes an `oversized` dead letter: empty
  value, the original key only when it is short, the source coordinates in the usual headers,
  the original reason and detail in `rbc.error.detail`, and `rbc.value: omitted-oversized`
  with `rbc.value.bytes` (the original size).

Each full-size record also carries its lean form as `OutputRecord.smaller`, which the
producer sends instead when the broker refuses the full one (a topic whose
`max.message.bytes` is below `message_max_bytes`).
"""

from __future__ import annotations

import dataclasses

from rbc1000.alerts.framing import RecordFramer
from rbc1000.model.contract import ModelInfo
from rbc1000.model.decisions import ScoredAlert
from rbc1000.ops.settings import ServeSettings
from rbc1000.reasons import Reason
from rbc1000.stream.kafka_io import Headers, Message, OutputRecord
from rbc1000.stream.records import ScoredRecord, encode_kafka

MAX_DETAIL_BYTES = 1000
MAX_KEPT_KEY_BYTES = 1024  # an oversized dead letter keeps the original key up to this size
# Kafka's record and batch framing around key, value and headers, with room to spare.
RECORD_OVERHEAD_BYTES = 512
OMITTED = b"omitted-oversized"
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


def wire_size(record: OutputRecord) -> int:
    """What `record` weighs against `message_max_bytes`: key, value, headers and framing."""
    headers = sum(len(name) + len(value) for name, value in record.headers)
    return len(record.value) + len(record.key or b"") + headers + RECORD_OVERHEAD_BYTES


def scored_record(
    message: Message, scored: ScoredAlert, info: ModelInfo, settings: ServeSettings, framer: RecordFramer
) -> OutputRecord:
    """The scored record of one alert of `message`, with the packet when the settings ask for
    it and it fits `message_max_bytes` (see the module docstring)."""
    topic, headers = settings.scored_topic, source_headers(message)
    packet = message.value if settings.include_packet else None
    record = ScoredRecord.build(scored, info, packet)
    key = record.object_id.encode()

    def lean() -> OutputRecord:
        value = encode_kafka(dataclasses.replace(record, alert_packet=None), topic, framer)
        return OutputRecord(topic, value, key, (*headers, ("rbc.packet", OMITTED)))

    if packet is None:
        return OutputRecord(topic, encode_kafka(record, topic, framer), key, headers)
    if len(packet) + RECORD_OVERHEAD_BYTES > settings.message_max_bytes:
        return lean()  # too large whatever the rest weighs: skip encoding it
    full = OutputRecord(topic, encode_kafka(record, topic, framer), key, headers, smaller=lean)
    return full if wire_size(full) <= settings.message_max_bytes else lean()


def labelling_copy(scored: OutputRecord, settings: ServeSettings, framer: RecordFramer) -> OutputRecord:
    """The same scored record (key, headers) for the labelling topic, framed for that topic;
    its lean form is the labelling copy of the scored record's."""
    topic, smaller = settings.labelling_topic, scored.smaller

    def lean() -> OutputRecord:
        assert smaller is not None
        return labelling_copy(smaller(), settings, framer)

    value = framer.reframe(scored.value, topic)
    return dataclasses.replace(scored, topic=topic, value=value, smaller=None if smaller is None else lean)


def labelling_record(
    message: Message,
    scored: ScoredAlert,
    info: ModelInfo,
    scored_out: OutputRecord,
    settings: ServeSettings,
    framer: RecordFramer,
) -> OutputRecord:
    """The labelling copy of `scored_out`, always built with the packet (a labeller needs the
    stamps) even when the scored topic leaves packets out."""
    if not settings.include_packet:
        with_packet = settings.model_copy(update={"include_packet": True})
        scored_out = scored_record(message, scored, info, with_packet, framer)
    return labelling_copy(scored_out, settings, framer)


def dead_letter_record(
    message: Message, reason: str, detail: str, record_index: int, settings: ServeSettings
) -> OutputRecord:
    """The original message for the dead-letter topic, with why and where in its headers; an
    `oversized` dead letter instead when it would not fit `message_max_bytes`."""

    def lean() -> OutputRecord:
        return oversized_dead_letter(message, reason, detail, record_index, settings)

    value, key = message.value or b"", message.key
    if len(value) + len(key or b"") + RECORD_OVERHEAD_BYTES > settings.message_max_bytes:
        return lean()
    headers = _error_headers(message, reason, detail, record_index)
    full = OutputRecord(settings.dead_letter_topic, value, key, headers, smaller=lean)
    return full if wire_size(full) <= settings.message_max_bytes else lean()


def oversized_dead_letter(
    message: Message, reason: str, detail: str, record_index: int, settings: ServeSettings
) -> OutputRecord:
    """The dead letter of a message too large to copy: no value, the original reason in the
    detail, the original size in `rbc.value.bytes`."""
    size = len(message.value or b"")
    why = f"{size} bytes do not fit message_max_bytes={settings.message_max_bytes}; {reason}: {detail}"
    headers = (
        *_error_headers(message, Reason.OVERSIZED, why, record_index),
        ("rbc.value", OMITTED),
        ("rbc.value.bytes", str(size).encode()),
    )
    key = message.key if len(message.key or b"") <= MAX_KEPT_KEY_BYTES else None
    return OutputRecord(settings.dead_letter_topic, b"", key, headers)


def _error_headers(message: Message, reason: str, detail: str, record_index: int) -> Headers:
    return (
        ("rbc.error.reason", reason.encode()),
        ("rbc.error.detail", detail.encode(errors="replace")[:MAX_DETAIL_BYTES]),
        *source_headers(message),
        ("rbc.record.index", str(record_index).encode()),
        *connect_error_headers(message, reason, detail),
    )


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
