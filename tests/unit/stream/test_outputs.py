"""Output records from a message and its outcome: topics, keys, values and headers."""

from __future__ import annotations

import io

import fastavro

from rbc1000.model.decisions import ScoredAlert
from rbc1000.stream.kafka_io import Message, OutputRecord
from rbc1000.stream.outputs import (
    CONNECT_ERROR_HEADERS,
    MAX_DETAIL_BYTES,
    dead_letter_record,
    labelling_copy,
    scored_record,
    source_headers,
)
from rbc1000.stream.records import decode_kafka, scored_framer
from tests.support.kafka_fakes import header, settings
from tests.support.model_factory import tiny_info
from tests.support.synthetic_alerts import make_alert

MESSAGE = Message("in", 3, 41, b"k", b"packet bytes", (), 1_700_000_000_000)
SCORED = ScoredAlert(make_alert(7, object_id="ZTF21abcdefg"), 0.5, "uncertain", True)
CONTAINER = scored_framer()


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
    record = scored_record(MESSAGE, SCORED, tiny_info(version="9"), settings(), CONTAINER)
    body = decode_kafka(record.value)
    assert record.topic == "rbc.scored"
    assert record.key == b"ZTF21abcdefg"
    assert record.headers == source_headers(MESSAGE)
    assert (body["alert_id"], body["decision"], body["model_version"]) == ("7", "uncertain", "9")
    assert body["alert_packet"] == b"packet bytes"


def test_scored_record_without_packet_when_the_settings_say_so() -> None:
    record = scored_record(MESSAGE, SCORED, tiny_info(), settings(include_packet=False), CONTAINER)
    assert decode_kafka(record.value)["alert_packet"] is None


def test_labelling_copy_is_the_same_record_on_the_labelling_topic() -> None:
    scored = scored_record(MESSAGE, SCORED, tiny_info(), settings(), CONTAINER)
    copy = labelling_copy(scored, settings(labelling_topic="label-me"), CONTAINER)
    assert copy.topic == "label-me"
    assert (copy.value, copy.key, copy.headers) == (scored.value, scored.key, scored.headers)


def test_container_framing_is_a_self_describing_avro_file_per_message() -> None:
    record = scored_record(MESSAGE, SCORED, tiny_info(), settings(), CONTAINER)
    assert record.value.startswith(b"Obj\x01")
    (body,) = fastavro.reader(io.BytesIO(record.value))  # no schema given: it is inside
    assert isinstance(body, dict) and body["alert_id"] == "7"


def test_confluent_framing_uses_each_topic_s_registered_id() -> None:
    framer = scored_framer("confluent", {"rbc.scored": 11, "label-me": 12})
    scored = scored_record(MESSAGE, SCORED, tiny_info(), settings(), framer)
    copy = labelling_copy(scored, settings(labelling_topic="label-me"), framer)
    assert (scored.value[0], int.from_bytes(scored.value[1:5], "big")) == (0, 11)
    assert int.from_bytes(copy.value[1:5], "big") == 12
    assert copy.value[5:] == scored.value[5:]
    assert decode_kafka(copy.value, {12})["alert_id"] == "7"


def test_dead_letter_keeps_the_original_bytes_and_says_why() -> None:
    record = dead_letter_record(MESSAGE, "missing_cutouts", "no science stamp", 2, settings())
    assert (record.topic, record.value, record.key) == ("rbc.dead-letter", b"packet bytes", b"k")
    assert headers(record) == [
        "rbc.error.reason",
        "rbc.error.detail",
        *headers(scored_record(MESSAGE, SCORED, tiny_info(), settings(), CONTAINER)),
        "rbc.record.index",
        *CONNECT_ERROR_HEADERS,
    ]
    assert header(record, "rbc.error.reason") == "missing_cutouts"
    assert header(record, "rbc.error.detail") == "no science stamp"
    assert header(record, "rbc.record.index") == "2"
    assert header(record, "rbc.source.offset") == "41"
    assert header(record, "__connect.errors.topic") == "in"
    assert header(record, "__connect.errors.partition") == "3"
    assert header(record, "__connect.errors.offset") == "41"
    assert header(record, "__connect.errors.exception.message") == "missing_cutouts: no science stamp"


def test_dead_letter_of_an_empty_message_and_a_long_detail() -> None:
    tombstone = Message("in", 0, 5, None, None)
    record = dead_letter_record(tombstone, "empty_message", "é" * MAX_DETAIL_BYTES, -1, settings())
    assert record.value == b""
    assert record.key is None
    detail = dict(record.headers)["rbc.error.detail"]
    assert len(detail) == MAX_DETAIL_BYTES
