"""Output records from a message and its outcome: topics, keys, values and headers."""

from __future__ import annotations

from rbc1000.model.decisions import ScoredAlert
from rbc1000.stream.kafka_io import Message, OutputRecord
from rbc1000.stream.outputs import (
    MAX_DETAIL_BYTES,
    dead_letter_record,
    labelling_copy,
    scored_record,
    source_headers,
)
from rbc1000.stream.records import decode_kafka
from tests.support.kafka_fakes import header, settings
from tests.support.model_factory import tiny_info
from tests.support.synthetic_alerts import make_alert

MESSAGE = Message("in", 3, 41, b"k", b"packet bytes", (), 1_700_000_000_000)
SCORED = ScoredAlert(make_alert(7, object_id="ZTF21abcdefg"), 0.5, "uncertain", True)


def headers(record: OutputRecord) -> list[str]:
    return [name for name, _ in record.headers]


def test_source_headers_name_topic_partition_offset_and_timestamp() -> None:
    assert dict(source_headers(MESSAGE)) == {
        "rbc.source.topic": b"in",
        "rbc.source.partition": b"3",
        "rbc.source.offset": b"41",
        "rbc.source.timestamp_ms": b"1700000000000",
    }
    untimed = Message("in", 0, 0, None, b"x")
    assert dict(source_headers(untimed))["rbc.source.timestamp_ms"] == b"-1"


def test_scored_record_is_keyed_by_object_and_traced_to_its_source() -> None:
    record = scored_record(MESSAGE, SCORED, tiny_info(version="9"), settings())
    body = decode_kafka(record.value)
    assert record.topic == "rbc.scored"
    assert record.key == b"ZTF21abcdefg"
    assert record.headers == source_headers(MESSAGE)
    assert (body["alert_id"], body["decision"], body["model_version"]) == ("7", "uncertain", "9")
    assert body["alert_packet"] == b"packet bytes"


def test_scored_record_without_packet_when_the_settings_say_so() -> None:
    record = scored_record(MESSAGE, SCORED, tiny_info(), settings(include_packet=False))
    assert decode_kafka(record.value)["alert_packet"] is None


def test_labelling_copy_is_the_same_record_on_the_labelling_topic() -> None:
    scored = scored_record(MESSAGE, SCORED, tiny_info(), settings())
    copy = labelling_copy(scored, settings(labelling_topic="label-me"))
    assert copy.topic == "label-me"
    assert (copy.value, copy.key, copy.headers) == (scored.value, scored.key, scored.headers)


def test_dead_letter_keeps_the_original_bytes_and_says_why() -> None:
    record = dead_letter_record(MESSAGE, "missing_cutouts", "no science stamp", 2, settings())
    assert (record.topic, record.value, record.key) == ("rbc.dead-letter", b"packet bytes", b"k")
    assert headers(record) == [
        "rbc.error.reason",
        "rbc.error.detail",
        *headers(scored_record(MESSAGE, SCORED, tiny_info(), settings())),
        "rbc.record.index",
    ]
    assert header(record, "rbc.error.reason") == "missing_cutouts"
    assert header(record, "rbc.error.detail") == "no science stamp"
    assert header(record, "rbc.record.index") == "2"
    assert header(record, "rbc.source.offset") == "41"


def test_dead_letter_of_an_empty_message_and_a_long_detail() -> None:
    tombstone = Message("in", 0, 5, None, None)
    record = dead_letter_record(tombstone, "empty_message", "é" * MAX_DETAIL_BYTES, -1, settings())
    assert record.value == b""
    assert record.key is None
    detail = dict(record.headers)["rbc.error.detail"]
    assert len(detail) == MAX_DETAIL_BYTES
