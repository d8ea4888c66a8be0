"""Helpers that build real-data test packets: containers of many records, Confluent frames."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import fastavro

from rbc1000.alerts.registry import DEFAULT_SCHEMA_DIR, WFST_ID_OFFSET, load_schema_dir

LSST_9_0_ID = 900
WFST_1_0_ID = WFST_ID_OFFSET + 100


def read_records(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(writer schema, records) of a real alert file, through fastavro itself."""
    with path.open("rb") as handle:
        reader = fastavro.reader(handle)
        schema = reader.writer_schema
        assert isinstance(schema, dict)
        return schema, [dict(r) for r in reader]  # type: ignore[arg-type]


def container(
    schema: dict[str, Any], records: list[dict[str, Any]], codec: str = "null", sync_interval: int = 16000
) -> bytes:
    buffer = io.BytesIO()
    fastavro.writer(
        buffer,
        fastavro.parse_schema(schema, named_schemas={}),
        records,
        codec=codec,
        sync_interval=sync_interval,
    )
    return buffer.getvalue()


def confluent(schema_id: int, record: dict[str, Any], survey: str = "lsst") -> bytes:
    """Frame `record` as Rubin does: magic 0, big-endian schema id, schemaless Avro body."""
    offset = WFST_ID_OFFSET if survey == "wfst" else 0
    major, minor = divmod(schema_id - offset, 100)
    schema = load_schema_dir(DEFAULT_SCHEMA_DIR / survey / str(major) / str(minor))
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema, named_schemas={}), record)
    return b"\x00" + struct.pack(">I", schema_id) + body.getvalue()
