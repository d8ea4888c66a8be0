"""Low-level reading of Avro object container files (OCF).

We parse the container ourselves instead of using `fastavro.reader` so that the writer
schema is looked up in a cache by its fingerprint (fastavro re-parses it for every file,
which for ZTF's large schemas costs more than decoding the alert itself) and so that a
corrupt block costs only its own records: decoding resumes at the next sync marker.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import cramjam

from rbc1000.alerts.alert import DecodeError
from rbc1000.alerts.framing import OCF_MAGIC
from rbc1000.reasons import Reason

_SYNC_SIZE = 16
# Bound on a decompressed block: real alert blocks are well under 10 MB.
MAX_BLOCK_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Block:
    """One data block of a container: its decompressed bytes and how many records it holds."""

    index: int
    count: int
    data: bytes | None
    error: DecodeError | None = None


@dataclass(frozen=True, slots=True)
class Container:
    """A parsed container header and its blocks (decompressed lazily, one at a time)."""

    schema_json: bytes
    fingerprint: bytes
    codec: str
    body: bytes
    body_start: int
    sync: bytes

    def blocks(self) -> Iterator[Block]:
        return _iter_blocks(self)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one Avro zig-zag long at `pos`; return (value, next position)."""
    shift = 0
    acc = 0
    while True:
        if pos >= len(buf):
            raise DecodeError(Reason.TRUNCATED, "data ends inside a variable-length integer")
        byte = buf[pos]
        pos += 1
        acc |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (acc >> 1) ^ -(acc & 1), pos
        shift += 7
        if shift > 63:
            raise DecodeError(Reason.BAD_CONTAINER, "variable-length integer longer than 10 bytes")


def schema_fingerprint(schema_json: bytes) -> bytes:
    return hashlib.blake2b(schema_json, digest_size=16).digest()


def parse_container(data: bytes) -> Container:
    """Parse the OCF header (magic, metadata map, sync marker)."""
    if not data.startswith(OCF_MAGIC):
        raise DecodeError(Reason.BAD_CONTAINER, "missing Avro container magic 'Obj\\x01'")
    meta, pos = _read_metadata(data, len(OCF_MAGIC))
    if pos + _SYNC_SIZE > len(data):
        raise DecodeError(Reason.TRUNCATED, "container ends before its sync marker")
    schema_json = meta.get("avro.schema")
    if not schema_json:
        raise DecodeError(Reason.BAD_CONTAINER, "container header has no avro.schema")
    codec = meta.get("avro.codec", b"null").decode("ascii", "replace")
    if codec not in _CODECS:
        raise DecodeError(Reason.UNSUPPORTED_CODEC, f"codec {codec!r} (supported: {sorted(_CODECS)})")
    sync = data[pos : pos + _SYNC_SIZE]
    return Container(schema_json, schema_fingerprint(schema_json), codec, data, pos + _SYNC_SIZE, sync)


def _read_metadata(data: bytes, pos: int) -> tuple[dict[str, bytes], int]:
    meta: dict[str, bytes] = {}
    while True:
        count, pos = read_varint(data, pos)
        if count == 0:
            return meta, pos
        if count < 0:
            count = -count
            _, pos = read_varint(data, pos)  # block size in bytes, not needed
        for _ in range(count):
            key, pos = _read_bytes(data, pos)
            value, pos = _read_bytes(data, pos)
            meta[key.decode("utf-8", "replace")] = value


def _read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = read_varint(data, pos)
    if size < 0 or pos + size > len(data):
        raise DecodeError(Reason.TRUNCATED, "container header ends inside a string")
    return data[pos : pos + size], pos + size


def _iter_blocks(c: Container) -> Iterator[Block]:
    pos, index, data = c.body_start, 0, c.body
    while pos < len(data):
        try:
            count, pos = read_varint(data, pos)
            size, pos = read_varint(data, pos)
            end = pos + size
            if count < 0 or size < 0 or end + _SYNC_SIZE > len(data):
                raise DecodeError(Reason.TRUNCATED, f"block {index} runs past the end of the data")
            if data[end : end + _SYNC_SIZE] != c.sync:
                raise DecodeError(Reason.BAD_CONTAINER, f"block {index} is not followed by the sync marker")
            yield Block(index, count, _CODECS[c.codec](data[pos:end]))
            pos = end + _SYNC_SIZE
        except DecodeError as exc:
            yield Block(index, 0, None, exc)
            # Skip to the next sync marker, where the next intact block starts.
            found = data.find(c.sync, pos)
            if found < 0:
                return
            pos = found + _SYNC_SIZE
        index += 1


def _inflate(raw: bytes) -> bytes:
    try:
        inflater = zlib.decompressobj(-15)
        out = inflater.decompress(raw, MAX_BLOCK_BYTES)
    except zlib.error as exc:
        raise DecodeError(Reason.BAD_BLOCK, f"corrupt deflate block: {exc}") from None
    if inflater.unconsumed_tail:
        raise DecodeError(Reason.BAD_BLOCK, "deflate block inflates past the size limit")
    return out


def _unsnappy(raw: bytes) -> bytes:
    # Avro's snappy codec appends the big-endian CRC-32 of the uncompressed data.
    if len(raw) < 4:
        raise DecodeError(Reason.BAD_BLOCK, "snappy block shorter than its checksum")
    try:
        out = bytes(cramjam.snappy.decompress_raw(raw[:-4]))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise DecodeError(Reason.BAD_BLOCK, f"corrupt snappy block: {exc}") from None
    if zlib.crc32(out) != struct.unpack(">I", raw[-4:])[0]:
        raise DecodeError(Reason.BAD_BLOCK, "snappy block fails its CRC-32 check")
    return out


def _cramjam(name: str):  # type: ignore[no-untyped-def]
    def decompress(raw: bytes) -> bytes:
        try:
            return bytes(getattr(cramjam, name).decompress(raw))
        except Exception as exc:
            raise DecodeError(Reason.BAD_BLOCK, f"corrupt {name} block: {exc}") from None

    return decompress


_CODECS = {
    "null": lambda raw: raw,
    "deflate": _inflate,
    "snappy": _unsnappy,
    "zstandard": _cramjam("zstd"),
    "bzip2": _cramjam("bzip2"),
    "xz": _cramjam("xz"),
}
