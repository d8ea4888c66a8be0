"""Outputs that fit `message_max_bytes`: a scored record too large leaves its packet out, a dead
letter too large becomes an `oversized` one; full-size records carry their lean form."""

from __future__ import annotations

from rbc1000.model.decisions import ScoredAlert
from rbc1000.stream.kafka_io import Message, OutputRecord
from rbc1000.stream.outputs import (
    OMITTED,
    dead_letter_record,
    labelling_copy,
    scored_record,
    wire_size,
)
from rbc1000.stream.records import decode_kafka, scored_framer
from tests.support.kafka_fakes import settings
from tests.support.model_factory import tiny_info
from tests.support.synthetic_alerts import make_alert

LIMIT = 64_000
SCORED = ScoredAlert(make_alert(7, object_id="ZTF21abcdefg"), 0.5, "uncertain", True)
CONTAINER = scored_framer()


def message(size: int) -> Message:
    return Message("in", 2, 17, b"key", b"x" * size, (), 1_700_000_000_000)


def names(record: OutputRecord) -> dict[str, bytes]:
    return dict(record.headers)


def test_a_scored_record_that_fits_keeps_its_packet_and_its_lean_form() -> None:
    record = scored_record(message(1000), SCORED, tiny_info(), settings(message_max_bytes=LIMIT), CONTAINER)
    assert decode_kafka(record.value)["alert_packet"] == b"x" * 1000
    assert "rbc.packet" not in names(record)
    assert record.smaller is not None
    lean = record.smaller()
    assert decode_kafka(lean.value)["alert_packet"] is None
    assert names(lean)["rbc.packet"] == OMITTED
    assert decode_kafka(lean.value)["alert_id"] == "7"


def test_a_scored_record_too_large_carries_no_packet() -> None:
    big = message(LIMIT)
    record = scored_record(big, SCORED, tiny_info(), settings(message_max_bytes=LIMIT), CONTAINER)
    body = decode_kafka(record.value)
    assert body["alert_packet"] is None
    assert (body["alert_id"], body["decision"]) == ("7", "uncertain")
    assert names(record)["rbc.packet"] == OMITTED
    assert names(record)["rbc.source.offset"] == b"17"
    assert wire_size(record) <= LIMIT


def test_the_labelling_copy_of_a_lean_record_is_lean_and_of_a_full_one_has_a_lean_form() -> None:
    chosen = settings(message_max_bytes=LIMIT)
    lean = labelling_copy(
        scored_record(message(LIMIT), SCORED, tiny_info(), chosen, CONTAINER), chosen, CONTAINER
    )
    assert lean.topic == "rbc.labelling" and names(lean)["rbc.packet"] == OMITTED
    full = labelling_copy(
        scored_record(message(10), SCORED, tiny_info(), chosen, CONTAINER), chosen, CONTAINER
    )
    assert full.smaller is not None
    smaller = full.smaller()
    assert smaller.topic == "rbc.labelling"
    assert decode_kafka(smaller.value)["alert_packet"] is None


def test_a_dead_letter_that_fits_is_the_original_bytes() -> None:
    small = message(100)
    record = dead_letter_record(small, "bad_framing", "why", -1, settings(message_max_bytes=LIMIT))
    assert record.value == small.value and record.key == b"key"
    assert names(record)["rbc.error.reason"] == b"bad_framing"
    assert record.smaller is not None
    assert names(record.smaller())["rbc.error.reason"] == b"oversized"


def test_a_dead_letter_too_large_is_oversized_without_its_value() -> None:
    big = message(10 * LIMIT)
    record = dead_letter_record(big, "bad_framing", "not Avro", -1, settings(message_max_bytes=LIMIT))
    headers = names(record)
    assert record.value == b"" and record.key == b"key"
    assert headers["rbc.error.reason"] == b"oversized"
    assert b"bad_framing: not Avro" in headers["rbc.error.detail"]
    assert headers["rbc.value"] == OMITTED
    assert headers["rbc.value.bytes"] == str(10 * LIMIT).encode()
    assert (headers["rbc.source.topic"], headers["rbc.source.partition"], headers["rbc.source.offset"]) == (
        b"in",
        b"2",
        b"17",
    )
    assert wire_size(record) <= LIMIT


def test_an_oversized_dead_letter_drops_a_huge_key_too() -> None:
    big = Message("in", 0, 1, b"k" * LIMIT, b"v", (), None)
    record = dead_letter_record(big, "bad_framing", "", 0, settings(message_max_bytes=LIMIT))
    assert record.key is None and names(record)["rbc.error.reason"] == b"oversized"
