"""Scored records: schema round trips on the Kafka wire and in .avro/.csv/.jsonl files."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import fastavro
import pytest

from rbc1000.alerts.framing import Framing
from rbc1000.model.decisions import ScoredAlert
from rbc1000.stream.records import (
    AVRO_FIELDS,
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
    assert names == list(AVRO_FIELDS) and set(AVRO_FIELDS) == {*ROW_FIELDS, "alert_packet"}
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


# Scored schema 1.1 against 1.0 readers (schemas/scored/README.md, "Evolution rules").

OLD_SCHEMA = SCHEMA_PATH.parent / "1.0" / "scored_alert.avsc"


def _through(record: ScoredRecord, reader: Path) -> dict[str, object]:
    """Write with the current schema, read with `reader`'s (Avro schema resolution)."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text())), record.avro())
    buf.seek(0)
    old = fastavro.parse_schema(json.loads(reader.read_text()))
    new = fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text()))
    return dict(fastavro.schemaless_reader(buf, new, old))  # type: ignore[arg-type]


def test_a_1_0_reader_reads_every_scored_record_of_1_1() -> None:
    alert = replace(make_alert(7), survey_score=0.97, drb=0.97, rb=0.5)
    scored = ScoredAlert(alert, 0.8125, "uncertain", True, tiny_info(version="1.2.3"), "random")
    back = _through(ScoredRecord.build(scored, tiny_info(), b"pk", scored_at=SCORED_AT), OLD_SCHEMA)
    assert back["p_real"] == 0.8125 and back["decision"] == "uncertain"
    assert back["model_version"] == "1.2.3" and back["alert_packet"] == b"pk"
    assert "survey_score" not in back and "selection_reason" not in back  # 1.1 fields skipped


def test_a_1_0_reader_cannot_read_an_unscored_record_and_says_so() -> None:
    # No Avro resolution turns a null p_real into a 1.0 float: the record fails loudly rather
    # than carrying a made-up score (hence the publish_unscored setting).
    unscored = ScoredRecord.build(ScoredAlert(make_alert(8), None, "unscored", False), tiny_info(), None)
    with pytest.raises(fastavro.read.SchemaResolutionError):
        _through(unscored, OLD_SCHEMA)


def test_a_1_1_reader_reads_1_0_records_with_the_new_fields_null() -> None:
    old_json = json.loads(OLD_SCHEMA.read_text())
    old, new = fastavro.parse_schema(old_json), fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text()))
    data = {k: v for k, v in _record().avro().items() if k in {f["name"] for f in old_json["fields"]}}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, old, data)
    buf.seek(0)
    back = fastavro.schemaless_reader(buf, old, new)
    assert isinstance(back, dict) and back["p_real"] == 0.8125
    assert back["survey_score"] is None and back["selection_reason"] is None


def test_unscored_record_has_no_score_and_no_model() -> None:
    alert = replace(make_alert(9, survey="lsst"), survey_score=0.6, survey_score_name="reliability", rb=None)
    rec = ScoredRecord.build(ScoredAlert(alert, None, "unscored", False), tiny_info(), None)
    back = decode_kafka(encode_kafka(rec))
    assert back["decision"] == "unscored" and back["p_real"] is None
    assert back["model_name"] is None and back["model_version"] is None
    assert back["survey_score"] == pytest.approx(0.6) and back["survey_score_name"] == "reliability"
    assert back["survey_score_version"] is None and back["rb"] is None


def test_ztf_record_carries_drb_with_its_version_and_rb_beside_it() -> None:
    alert = replace(make_alert(10), survey_score=0.99, drb=0.99, rb=0.4)
    row = ScoredRecord.build(ScoredAlert(alert, 0.9, "real", False), tiny_info(), None).row()
    assert (row["survey_score_name"], row["survey_score_version"]) == ("drb", "d6_m7")
    assert row["survey_score"] == pytest.approx(0.99) and row["rb"] == pytest.approx(0.4)
    assert row["selection_reason"] is None
