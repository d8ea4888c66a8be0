"""Consensus labels to the labels topic (schema `schemas/labels/alert_label.avsc`).

The store writes an outbox row in the same transaction that settles (or unsettles) an
alert; `publish_pending` produces the pending rows, waits for the broker's
acknowledgements, and only then marks them published. A crash in between publishes them
again: at-least-once, and harmless because the latest record per alert id is its label.

Values are framed as the service frames its scored records (`rbc1000.alerts.framing`):
`container` by default (an Avro object container per message, schema inside), or
`confluent` with the id a schema registry returned for `<labels topic>-value`, registered
at start by `prepare_labels_framer`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection
from functools import cache
from typing import Any

import fastavro

from rbc1000.alerts.framing import Framing, RecordFramer, read_framed
from rbc1000.assets import schema_root
from rbc1000.label.settings import LabelSettings
from rbc1000.label.store import AlertView, LabelEvent, Store
from rbc1000.stream.kafka_io import MessageSink, OutputRecord
from rbc1000.stream.registration import output_schema_ids

log = logging.getLogger(__name__)

# The project's local id convention (30000 + 200 + minor) for a Confluent frame without a
# registry; `decode_label` accepts it, so labels topics written with it stay readable.
LABELS_SCHEMA_ID = 30200


def _schema_json() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((schema_root() / "labels" / "alert_label.avsc").read_text())
    return loaded


@cache
def labels_schema() -> Any:
    """The parsed labels schema."""
    return fastavro.parse_schema(_schema_json())


def labels_framer(framing: Framing = "container", schema_ids: dict[str, int] | None = None) -> RecordFramer:
    """The framer of label records; Confluent frames take `schema_ids[topic]`, else 30200."""
    return RecordFramer(labels_schema(), framing, schema_ids, default_id=LABELS_SCHEMA_ID)


def prepare_labels_framer(settings: LabelSettings) -> RecordFramer:
    """The labels topic's framer; with the registry framing, register the schema first.

    Raises `RegistrationError` (the registry is away or refuses the schema) before anything
    is published.
    """
    ids = output_schema_ids(settings, {settings.labels_topic: _schema_json()})
    return labels_framer("container") if ids is None else labels_framer("confluent", ids)


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


def encode_label(record: dict[str, Any], framer: RecordFramer | None = None, topic: str = "") -> bytes:
    """One label record as a labels-topic value (container framing unless `framer` says)."""
    return (framer or labels_framer()).frame(record, topic)


def decode_label(data: bytes, schema_ids: Collection[int] | None = None) -> dict[str, Any]:
    """Read a labels-topic message back from either framing; ValueError when it is not one.

    A Confluent frame's id must be in `schema_ids` when given (a registry's ids are its own).
    """
    return read_framed(data, labels_schema(), schema_ids)


def publish_pending(
    store: Store,
    sink: MessageSink,
    topic: str,
    consensus_n: int,
    flush_timeout_s: float,
    framer: RecordFramer | None = None,
) -> int:
    """Produce every pending outbox row, flush, then mark them published; return how many.

    A DeliveryError from the flush leaves the rows pending for the next call. `framer`
    frames the values (default: container framing).
    """
    framer = framer or labels_framer()
    published = 0
    while True:
        events = store.pending_events()
        if not events:
            return published
        for event in events:
            alert = store.alert(event.alert_id)
            assert alert is not None  # the outbox row's foreign key guarantees it
            value = encode_label(label_record(event, alert, consensus_n), framer, topic)
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
    framer: RecordFramer | None = None,
) -> None:
    """Publish pending labels every `interval_s` until `stop` is set (and once more then)."""
    while True:
        try:
            count = publish_pending(store, sink, topic, consensus_n, flush_timeout_s, framer)
            if count:
                log.info("labels_published count=%d topic=%s", count, topic)
        except Exception as exc:  # the broker may be away: keep the rows pending and retry
            log.warning("labels_publish_failed reason=%s", exc)
        if stop.is_set():
            return
        stop.wait(interval_s)
