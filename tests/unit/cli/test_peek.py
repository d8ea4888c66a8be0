"""`rbc peek` shows scored records without their packet, and other messages by their headers."""

from __future__ import annotations

from pathlib import Path

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.cli.peek import describe, save
from rbc1000.model.decisions import ScoredAlert
from rbc1000.stream.records import ScoredRecord, encode_kafka, iso_utc
from tests.support.model_factory import tiny_info


def test_scored_record_is_shown_without_its_packet(vendored_alerts: Path) -> None:
    path = next(iter(sorted(vendored_alerts.glob("fink-broker__ztf_v4.02__*.avro"))))
    [alert] = Decoder().decode(path.read_bytes())
    assert isinstance(alert, Alert)
    record = ScoredRecord.build(
        ScoredAlert(alert, 0.75, "real", False),
        tiny_info(),
        path.read_bytes(),
    )
    shown = describe(encode_kafka(record), None)
    assert shown["alert_id"] == str(alert.alert_id)
    assert shown["p_real"] == 0.75 and "alert_packet" not in shown
    assert shown["scored_at"] == iso_utc(record.scored_at) and shown["scored_at"].endswith("Z")


def test_save_writes_the_value_under_topic_partition_offset(tmp_path: Path) -> None:
    class _Message:
        def topic(self) -> str:
            return "rbc.dead-letter"

        def partition(self) -> int:
            return 2

        def offset(self) -> int:
            return 17

        def value(self) -> bytes:
            return b"Obj\x01packet"

    save(tmp_path, _Message())
    assert (tmp_path / "rbc.dead-letter-2-17.avro").read_bytes() == b"Obj\x01packet"


def test_other_messages_show_headers_and_size() -> None:
    shown = describe(b"Obj\x01 original packet", [("rbc.error.reason", b"missing_cutouts")])
    assert shown == {"bytes": 20, "headers": {"rbc.error.reason": "missing_cutouts"}}
