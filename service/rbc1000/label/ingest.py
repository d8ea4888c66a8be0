"""Labelling records into the database: from the labelling topic, or from files.

A labelling record is the scored record (`schemas/scored/`) with the packet bytes. Each is
stored once, keyed by alert id, with what the packet itself says (magnitude or flux, the
survey's own score when the record does not carry it). A record whose packet cannot be
decoded is still stored: the labelling page then says why its stamps cannot be shown.

From Kafka the order is: consume a batch, decode, write the rows in one transaction, and
only then commit the offsets after the batch. A crash between the write and the commit
reads the batch again, which the alert-id key makes harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.label.store import AlertRow, Store
from rbc1000.stream.kafka_io import Message, MessageSource, Partition
from rbc1000.stream.records import decode_kafka

log = logging.getLogger(__name__)

PRIORITY = {"uncertain": 0, "random": 1}
DEFAULT_REASON = "uncertain"  # records written before the selection reason was recorded


@dataclass
class IngestReport:
    """What one ingest call did: rows read, new ones stored, records refused, by reason."""

    read: int = 0
    stored: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def refuse(self, reason: str, where: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        log.warning("label_ingest_refused reason=%s where=%s", reason, where)


def _packet_alert(decoder: Decoder, packet: bytes | None, alert_id: str) -> Alert | None:
    """The packet's alert of this id (or its first alert); None when it does not decode."""
    if not packet:
        return None
    found = [r for r in decoder.decode(packet) if isinstance(r, Alert)]
    return next((a for a in found if str(a.alert_id) == alert_id), found[0] if found else None)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def row_from_record(
    record: Mapping[str, Any], threshold: float, decoder: Decoder, source: str, max_packet_bytes: int
) -> AlertRow:
    """The database row of one labelling record; ValueError when the record is unusable."""
    packet = record.get("alert_packet")
    if packet is not None and len(packet) > max_packet_bytes:
        raise ValueError("oversized_packet")
    alert_id = str(record["alert_id"])
    alert = _packet_alert(decoder, packet, alert_id)
    reason = str(record.get("selection_reason") or DEFAULT_REASON)
    p_real = float(record["p_real"])
    score = record.get("survey_score", alert.survey_score if alert else None)
    score_name = record.get("survey_score_name", alert.survey_score_name if alert else None)
    return AlertRow(
        alert_id=alert_id,
        object_id=str(record["object_id"]),
        survey=str(record["survey"]),
        mjd=float(record["mjd"]),
        ra=float(record["ra"]),
        dec=float(record["dec"]),
        band=str(record["band"]),
        mag=alert.mag if alert else None,
        mag_err=alert.mag_err if alert else None,
        flux=alert.flux if alert else None,
        flux_err=alert.flux_err if alert else None,
        p_real=p_real,
        decision=str(record["decision"]),
        model_name=str(record["model_name"]),
        model_version=str(record["model_version"]),
        scored_at=int(_millis(record["scored_at"])),
        selection_reason=reason,
        survey_score=_optional_float(score),
        survey_score_name=None if score_name is None else str(score_name),
        priority_group=PRIORITY.get(reason, len(PRIORITY)),
        distance=abs(p_real - threshold),
        source=source[:300],
        packet=None if packet is None else bytes(packet),
    )


def _millis(value: Any) -> int:
    """fastavro reads timestamp-millis as a datetime; the Kafka path may give an int."""
    if hasattr(value, "timestamp"):
        return int(value.timestamp() * 1000)
    return int(value)


class Ingester:
    """Turns labelling records into stored alerts, counting what it refuses."""

    def __init__(self, store: Store, threshold: float, max_packet_bytes: int) -> None:
        self.store = store
        self.threshold = threshold
        self.max_packet_bytes = max_packet_bytes
        self.decoder = Decoder()

    def rows(self, records: Iterable[tuple[str, Any]], report: IngestReport) -> list[AlertRow]:
        """Rows of (where, record) pairs; a record that is not usable is counted, not raised."""
        out: list[AlertRow] = []
        for where, record in records:
            report.read += 1
            try:
                if isinstance(record, bytes):
                    record = decode_kafka(record)
                out.append(
                    row_from_record(record, self.threshold, self.decoder, where, self.max_packet_bytes)
                )
            except (KeyError, TypeError, ValueError) as exc:
                report.refuse(str(exc) if str(exc) == "oversized_packet" else type(exc).__name__, where)
        return out

    def store_rows(self, rows: list[AlertRow], report: IngestReport) -> None:
        report.stored += self.store.add_alerts(rows)

    def import_files(self, paths: Iterable[Path], batch: int = 500) -> IngestReport:
        """Store the records of scored Avro files (`rbc score --out X.avro`) or framed messages."""
        report = IngestReport()
        pending: list[tuple[str, Any]] = []
        for item in _file_records(paths, report):
            pending.append(item)
            if len(pending) >= batch:
                self.store_rows(self.rows(pending, report), report)
                pending = []
        self.store_rows(self.rows(pending, report), report)
        return report

    def ingest_messages(self, messages: list[Message], report: IngestReport) -> dict[Partition, int]:
        """Store a consumed batch; return the offsets to commit (next to read per partition)."""
        records = [(f"{m.topic}:{m.partition}:{m.offset}", m.value or b"") for m in messages]
        self.store_rows(self.rows(records, report), report)
        offsets: dict[Partition, int] = {}
        for m in messages:
            offsets[m.source] = max(offsets.get(m.source, 0), m.offset + 1)
        return offsets


def _file_records(paths: Iterable[Path], report: IngestReport) -> Iterator[tuple[str, Any]]:
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.refuse("unreadable_file", f"{path}: {exc}")
            continue
        if not data.startswith(b"Obj\x01"):
            yield str(path), data
            continue
        try:
            with path.open("rb") as fo:
                for n, record in enumerate(fastavro.reader(fo)):
                    yield f"{path}#{n}", record
        except Exception as exc:  # fastavro raises many types on a corrupt container
            report.refuse("bad_container", f"{path}: {type(exc).__name__}")


class _NoRebalanceHooks:
    """Nothing to do on a rebalance: every stored batch is committed before the next poll."""

    def on_assign(self, partitions: list[Partition]) -> None: ...

    def on_revoke(self, partitions: list[Partition]) -> None: ...

    def on_lost(self, partitions: list[Partition]) -> None: ...


def run_ingest(
    ingester: Ingester, consumer: MessageSource, topic: str, batch: int, stop: threading.Event
) -> IngestReport:
    """Consume the labelling topic until `stop` is set.

    Steps per batch: consume up to `batch` messages; decode and store them in one
    transaction; commit the offsets after them. Automatic commit is off (the consumer's
    default here) so that no offset is committed before its rows are in the database.
    """
    report = IngestReport()
    consumer.subscribe([topic], _NoRebalanceHooks())
    try:
        while not stop.is_set():
            messages = consumer.consume(batch, 0.5)
            if not messages:
                continue
            offsets = ingester.ingest_messages(messages, report)
            failed = consumer.commit(offsets)
            if failed:
                log.warning("label_ingest_commit_failed partitions=%d", len(failed))
    finally:
        consumer.close()
    return report
