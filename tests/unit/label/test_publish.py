"""The labels topic's framing: container by default, Confluent with registry ids when chosen,
and `decode_label` reading both (and Confluent frames with the project's local id 30200)."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from pydantic import ValidationError

from rbc1000.alerts.framing import confluent_frame
from rbc1000.label.publish import (
    LABELS_SCHEMA_ID,
    decode_label,
    encode_label,
    labels_framer,
    labels_schema,
    prepare_labels_framer,
)
from rbc1000.label.settings import LabelSettings
from rbc1000.stream.records import scored_framer
from tests.unit.label.factory import FIRST_ID

RECORD: dict[str, Any] = {
    "alert_id": str(FIRST_ID + 1),
    "object_id": "ZTF26lab00001",
    "survey": "ztf",
    "label": "real",
    "labellers": ["alice", "bob"],
    "votes": 2,
    "consensus_n": 2,
    "labelled_at": 1_780_000_000_000,
    "selection_reason": "uncertain",
    "p_real": 0.5,
    "model_name": "rbc1000",
    "model_version": "1.0",
    "survey_score": None,
    "survey_score_name": None,
}


def _same(record: dict[str, Any]) -> None:
    assert {k: v for k, v in record.items() if k != "labelled_at"} == {
        k: v for k, v in RECORD.items() if k != "labelled_at"
    }
    assert int(record["labelled_at"].timestamp() * 1000) == RECORD["labelled_at"]


def test_the_default_is_a_container_any_avro_reader_reads_without_this_project() -> None:
    value = encode_label(RECORD)
    assert value.startswith(b"Obj\x01")
    [record] = list(fastavro.reader(io.BytesIO(value)))
    assert isinstance(record, dict)
    _same(record)
    _same(decode_label(value))


def test_the_registry_framing_carries_the_id_the_registry_gave_the_labels_topic() -> None:
    framer = labels_framer("confluent", {"rbc.labels": 7})
    value = encode_label(RECORD, framer, "rbc.labels")
    assert value[0] == 0 and int.from_bytes(value[1:5], "big") == 7
    _same(decode_label(value, schema_ids={7}))
    with pytest.raises(ValueError, match="schema id 7"):
        decode_label(value, schema_ids={LABELS_SCHEMA_ID})


def test_confluent_frames_with_the_local_id_are_read() -> None:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, labels_schema(), RECORD)
    _same(decode_label(confluent_frame(LABELS_SCHEMA_ID, body.getvalue())))


def test_a_scored_record_is_not_read_as_a_label() -> None:
    scored = scored_framer("container").schema
    body = io.BytesIO()
    fastavro.writer(body, scored, [], codec="null")
    with pytest.raises(ValueError):
        decode_label(body.getvalue())


def test_container_framing_registers_nothing(tmp_path: Any) -> None:
    settings = LabelSettings(
        database_url=f"sqlite:///{tmp_path / 'l.sqlite'}",
        output_framing="container",
        output_registry_url="http://127.0.0.1:1/never-called",
    )
    assert prepare_labels_framer(settings).framing == "container"


def test_the_registry_framing_needs_a_registry_url() -> None:
    with pytest.raises(ValidationError, match="output-registry-url"):
        LabelSettings(output_framing="confluent")
