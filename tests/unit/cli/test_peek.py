"""`rbc peek` shows scored records without their packet, and other messages by their headers."""

from __future__ import annotations

from pathlib import Path

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.cli.peek import describe
from rbc1000.model.decisions import ScoredAlert
from rbc1000.stream.records import ScoredRecord, encode_kafka
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


def test_other_messages_show_headers_and_size() -> None:
    shown = describe(b"Obj\x01 original packet", [("rbc.error.reason", b"missing_cutouts")])
    assert shown == {"bytes": 20, "headers": {"rbc.error.reason": "missing_cutouts"}}
