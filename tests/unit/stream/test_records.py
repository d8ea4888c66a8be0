"""Scored records: schema round trips on the Kafka wire and in .avro/.csv/.jsonl files."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import fastavro
import pytest

from rbc1000.alerts.framing import Framing
from rbc1000.model.decisions import ScoredAlert
from rbc1000.stream.records import (
    ROW_FIELDS,
    SCHEMA_PATH,
    SCORED_SCHEMA_ID,
    ScoredRecord,
    decode_kafka,
    encode_kafka,
    iso_utc,
    open_writer,
    read_records,
    scored_framer,
)
from tests.support.model_factory import tiny_info
from tests.support.synthetic_alerts import make_alert

SCORED_AT = 1_780_000_000_123


def _record(alert_id: int = 42, packet: bytes | None = b"packet-bytes") -> ScoredRecord:
    scored = ScoredAlert(make_alert(alert_id), 0.8125, "real", False)
    return ScoredRecord.build(scored, tiny_info(version="1.2.3"), packet, scored_at=SCORED_AT)


def test_schema_fields_are_the_documented_ones() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    names = [f["name"] for f in schema["fields"]]
    assert names == [*ROW_FIELDS, "alert_packet"]
    assert str(SCORED_SCHEMA_ID) in schema["doc"]


def test_build_takes_alert_and_model_fields() -> None:
    rec = _record()
    assert rec.alert_id == "42" and rec.object_id == "ZTF21aaaaaaa" and rec.survey == "ztf"
    assert rec.model_name == "rbc-tiny-test" and rec.model_version == "1.2.3"
    assert rec.decision == "real" and rec.p_real == 0.8125


@pytest.mark.parametrize("framing", ["container", "confluent"])
def test_kafka_round_trip_in_both_framings(framing: Framing) -> None:
    data = encode_kafka(_record(), "t", scored_framer(framing))
    if framing == "confluent":
        assert data[0] == 0 and int.from_bytes(data[1:5], "big") == SCORED_SCHEMA_ID
    else:
        assert data.startswith(b"Obj\x01")
    back = decode_kafka(data)
    assert back["alert_id"] == "42" and back["p_real"] == 0.8125
    assert back["alert_packet"] == b"packet-bytes"
    assert back["scored_at"] == datetime.fromtimestamp(SCORED_AT / 1000, UTC)


def test_kafka_decode_refuses_other_schema_id_when_told_the_ids() -> None:
    data = bytearray(encode_kafka(_record(), "t", scored_framer("confluent")))
    data[4] ^= 0xFF
    with pytest.raises(ValueError, match="schema id"):
        decode_kafka(bytes(data), {SCORED_SCHEMA_ID})


def test_kafka_decode_refuses_a_container_of_another_schema() -> None:
    buf = io.BytesIO()
    fastavro.writer(
        buf, {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]}, [{"x": 1}]
    )
    with pytest.raises(ValueError):
        decode_kafka(buf.getvalue())


def test_packet_can_be_left_out() -> None:
    assert decode_kafka(encode_kafka(_record(packet=None)))["alert_packet"] is None


@pytest.mark.parametrize("suffix", [".avro", ".csv", ".jsonl"])
def test_file_writers_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    with open_writer(path) as writer:
        for i in range(3):
            writer.write(_record(i))
    rows = read_records(path)
    assert [str(r["alert_id"]) for r in rows] == ["0", "1", "2"]
    assert float(rows[0]["p_real"]) == 0.8125
    if suffix == ".avro":
        assert rows[0]["alert_packet"] == b"packet-bytes"
        with path.open("rb") as fo:
            schema = fastavro.reader(fo).writer_schema
            assert isinstance(schema, dict) and schema["name"] == "rbc.scored.ScoredAlert"
    else:
        assert set(rows[0]) == set(ROW_FIELDS)
        assert rows[0]["scored_at"] == iso_utc(SCORED_AT) == "2026-05-28T20:26:40.123Z"


def test_avro_writer_can_leave_packets_out(tmp_path: Path) -> None:
    path = tmp_path / "out.avro"
    with open_writer(path, include_packets=False) as writer:
        writer.write(_record())
    assert read_records(path)[0]["alert_packet"] is None


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.avro, \.csv, \.jsonl"):
        open_writer(tmp_path / "out.parquet")
