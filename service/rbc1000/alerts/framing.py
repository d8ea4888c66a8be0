"""The two wire framings of alert and output messages, told apart by their first bytes.

- `container`: an Avro object container file, schema inside (`Obj\\x01` ...); how ZTF
  publishes every Kafka message and how alerts are stored on disk.
- `confluent`: the Confluent wire format, magic byte 0, a 4-byte big-endian schema id, then
  schemaless Avro; how Rubin and WFST publish, and how registry-aware consumers read.

The service writes its own records (scored, labelling, labels) in either framing through
`RecordFramer` and reads them back with `read_framed`. This module is the only place that
knows the Confluent header's layout.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Collection, Mapping
from typing import Any, Literal

import fastavro

from rbc1000.alerts.alert import DecodeError
from rbc1000.reasons import Reason

Framing = Literal["container", "confluent"]

OCF_MAGIC = b"Obj\x01"
CONFLUENT_MAGIC = 0
_CONFLUENT_HEADER = struct.Struct(">bI")
CONFLUENT_HEADER_SIZE = _CONFLUENT_HEADER.size


def detect_framing(data: bytes) -> Framing:
    """'container' for an Avro object container file, 'confluent' for the 5-byte wire header."""
    if data.startswith(OCF_MAGIC):
        return "container"
    if len(data) >= CONFLUENT_HEADER_SIZE and data[0] == CONFLUENT_MAGIC:
        return "confluent"
    raise DecodeError(Reason.BAD_FRAMING, "neither an Avro container ('Obj\\x01') nor a Confluent frame")


def confluent_frame(schema_id: int, body: bytes) -> bytes:
    """A Confluent-framed message: magic byte 0, 4-byte big-endian schema id, Avro body."""
    return _CONFLUENT_HEADER.pack(CONFLUENT_MAGIC, schema_id) + body


def split_confluent(data: bytes) -> tuple[int, bytes]:
    """Split a Confluent-framed message into (schema id, schemaless Avro body)."""
    if len(data) < CONFLUENT_HEADER_SIZE or data[0] != CONFLUENT_MAGIC:
        raise DecodeError(Reason.BAD_FRAMING, "not a Confluent-framed message (magic byte 0 + 4-byte id)")
    return int(_CONFLUENT_HEADER.unpack_from(data)[1]), data[CONFLUENT_HEADER_SIZE:]


def _zigzag_long(value: int) -> bytes:
    """Avro's variable-length zig-zag encoding of a long."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class RecordFramer:
    """Frames records of one Avro schema as Kafka message values, in either framing.

    - `container`: every value is a complete Avro object container holding one record, the
      writer schema in its header, so any Avro library reads it without a registry (as ZTF
      publishes). The header is built once; each value is that header plus one block.
    - `confluent`: the 5-byte header with the schema id registered for the value's topic
      (`schema_ids`, topic -> id; `default_id` for any other topic), then schemaless Avro.
    """

    def __init__(
        self,
        schema: Any,
        framing: Framing,
        schema_ids: Mapping[str, int] | None = None,
        default_id: int | None = None,
    ) -> None:
        self.schema = schema
        self.framing: Framing = framing
        self.schema_ids = dict(schema_ids or {})
        self.default_id = default_id
        self._sync = os.urandom(16)
        header = io.BytesIO()
        fastavro.writer(header, schema, [], codec="null", sync_marker=self._sync)
        self._header = header.getvalue()

    def schema_id(self, topic: str) -> int:
        """The Confluent schema id of `topic`'s values; KeyError when none was registered."""
        schema_id = self.schema_ids.get(topic, self.default_id)
        if schema_id is None:
            raise KeyError(f"no schema id registered for topic {topic!r}")
        return schema_id

    def frame(self, record: Mapping[str, Any], topic: str) -> bytes:
        """The message value of `record` on `topic`."""
        body = io.BytesIO()
        fastavro.schemaless_writer(body, self.schema, dict(record))
        return self.frame_body(body.getvalue(), topic)

    def frame_body(self, body: bytes, topic: str) -> bytes:
        """The message value of an already encoded schemaless Avro body on `topic`."""
        if self.framing == "confluent":
            return confluent_frame(self.schema_id(topic), body)
        return b"".join((self._header, _zigzag_long(1), _zigzag_long(len(body)), body, self._sync))

    def reframe(self, value: bytes, topic: str) -> bytes:
        """A value framed for another topic: unchanged in a container, the topic's id otherwise."""
        if self.framing == "container":
            return value
        return confluent_frame(self.schema_id(topic), split_confluent(value)[1])


def read_framed(data: bytes, reader_schema: Any, schema_ids: Collection[int] | None = None) -> dict[str, Any]:
    """Read one record of `reader_schema` from either framing; ValueError when it is not one.

    A container carries its writer schema, which must resolve to `reader_schema` (so a dead
    letter holding a ZTF alert is refused). A Confluent frame is read with `reader_schema` as
    the writer schema: its id must be in `schema_ids` when given, and the body must be used
    up exactly, which refuses most bodies of another schema.
    """
    try:
        framing = detect_framing(data)
        if framing == "container":
            records = list(fastavro.reader(io.BytesIO(data), reader_schema))
            if len(records) != 1:
                raise ValueError(f"a container of {len(records)} records, expected 1")
            record = records[0]
        else:
            schema_id, body_bytes = split_confluent(data)
            if schema_ids is not None and schema_id not in schema_ids:
                raise ValueError(f"schema id {schema_id} is not one of {sorted(schema_ids)}")
            body = io.BytesIO(body_bytes)
            record = fastavro.schemaless_reader(body, reader_schema, None)
            if body.tell() != len(body_bytes):
                raise ValueError("the Avro body does not match the schema (bytes left over)")
    except ValueError:
        raise
    except Exception as exc:  # fastavro raises many kinds on bytes of another schema
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError("the message does not hold a record")
    return record
