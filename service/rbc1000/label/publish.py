"""Consensus labels to the labels topic (schema `schemas/labels/alert_label.avsc`).

The store writes an outbox row in the same transaction that settles (or unsettles) an
alert; `publish_pending` produces the pending rows, waits for the broker's
acknowledgements, and only then marks them published. A crash in between publishes them
again: at-least-once, and harmless because the latest record per alert id is its label.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import threading
from functools import cache
from typing import Any

import fastavro

from rbc1000.assets import schema_root
from rbc1000.label.store import AlertView, LabelEvent, Store
from rbc1000.stream.kafka_io import MessageSink, OutputRecord

log = logging.getLogger(__name__)

LABELS_SCHEMA_ID = 30200
_CONFLUENT_HEADER = struct.Struct(">bI")


@cache
def labels_schema() -> Any:
    """The parsed labels schema."""
    return fastavro.parse_schema(json.loads((schema_root() / "labels" / "alert_label.avsc").read_text()))


def label_record(event: LabelEvent, alert: AlertView, consensus_n: int) -> dict[str, Any]:
    """The labels-topic record of one outbox row."""
    return {
        "alert_id": event.alert_id,
        "object_id": alert.object_id,
        "survey": alert.survey,
        "label": event.label,
        "labellers": [name for name in event.labellers.split(";") if name],
        "votes": event.votes,
        "consensus_n": consensus_n,
        "labelled_at": event.created_at,
        "selection_reason": alert.selection_reason,
        "p_real": alert.p_real,
        "model_name": alert.model_name,
        "model_version": alert.model_version,
        "survey_score": alert.survey_score,
        "survey_score_name": alert.survey_score_name,
    }


def encode_label(record: dict[str, Any]) -> bytes:
    """Confluent-framed schemaless Avro body of one label record."""
    buf = io.BytesIO()
    buf.write(_CONFLUENT_HEADER.pack(0, LABELS_SCHEMA_ID))
    fastavro.schemaless_writer(buf, labels_schema(), record)
    return buf.getvalue()


def decode_label(data: bytes) -> dict[str, Any]:
    """Read a labels-topic message back; ValueError on another framing or schema id."""
    if len(data) < _CONFLUENT_HEADER.size:
        raise ValueError("message too short for the Confluent header")
    magic, schema_id = _CONFLUENT_HEADER.unpack_from(data)
    if magic != 0 or schema_id != LABELS_SCHEMA_ID:
        raise ValueError(f"not a label record: magic {magic}, schema id {schema_id}")
    record = fastavro.schemaless_reader(io.BytesIO(data[_CONFLUENT_HEADER.size :]), labels_schema(), None)
    if not isinstance(record, dict):
        raise ValueError("label message body is not a record")
    return record


def publish_pending(
    store: Store, sink: MessageSink, topic: str, consensus_n: int, flush_timeout_s: float
) -> int:
    """Produce every pending outbox row, flush, then mark them published; return how many.

    A DeliveryError from the flush leaves the rows pending for the next call.
    """
    published = 0
    while True:
        events = store.pending_events()
        if not events:
            return published
        for event in events:
            alert = store.alert(event.alert_id)
            assert alert is not None  # the outbox row's foreign key guarantees it
            value = encode_label(label_record(event, alert, consensus_n))
            sink.produce(OutputRecord(topic, value, event.alert_id.encode()), lambda: None)
        sink.flush(flush_timeout_s)
        store.mark_published([e.id for e in events])
        published += len(events)


def run_publisher(
    store: Store,
    sink: MessageSink,
    topic: str,
    consensus_n: int,
    flush_timeout_s: float,
    interval_s: float,
    stop: threading.Event,
) -> None:
    """Publish pending labels every `interval_s` until `stop` is set (and once more then)."""
    while True:
        try:
            count = publish_pending(store, sink, topic, consensus_n, flush_timeout_s)
            if count:
                log.info("labels_published count=%d topic=%s", count, topic)
        except Exception as exc:  # the broker may be away: keep the rows pending and retry
            log.warning("labels_publish_failed reason=%s", exc)
        if stop.is_set():
            return
        stop.wait(interval_s)
