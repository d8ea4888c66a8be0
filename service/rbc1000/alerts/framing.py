"""The two wire framings of alert and output messages, told apart by their first bytes.

- `container`: an Avro object container file, schema inside (`Obj\\x01` ...); how ZTF
  publishes every Kafka message and how alerts are stored on disk.
- `confluent`: the Confluent wire format, magic byte 0, a 4-byte big-endian schema id, then
  schemaless Avro; how Rubin and WFST publish, and how registry-aware consumers read.

This module is the only place that knows the Confluent header's layout.
"""

from __future__ import annotations

import struct
from typing import Literal

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
