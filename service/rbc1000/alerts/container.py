"""Low-level reading of Avro object container files (OCF).

We parse the container ourselves instead of using `fastavro.reader` so that the writer
schema is looked up in a cache by its fingerprint (fastavro re-parses it for every file,
which for ZTF's large schemas costs more than decoding the alert itself) and so that a
corrupt block costs only its own records: decoding resumes at the next sync marker.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Protocol, cast

import cramjam
import numpy as np

from rbc1000.alerts.alert import DecodeError
from rbc1000.alerts.framing import OCF_MAGIC
from rbc1000.alerts.limits import DEFAULT_LIMITS, DecodeLimits
from rbc1000.reasons import Reason

_SYNC_SIZE = 16


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
    limits: DecodeLimits = DEFAULT_LIMITS

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


def parse_container(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Container:
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
    fingerprint = schema_fingerprint(schema_json)
    return Container(schema_json, fingerprint, codec, data, pos + _SYNC_SIZE, sync, limits)


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
    pos, index, data, total = c.body_start, 0, c.body, 0
    limits = c.limits
    while pos < len(data):
        try:
            count, pos = read_varint(data, pos)
            size, pos = read_varint(data, pos)
            end = pos + size
            if count < 0 or size < 0 or end + _SYNC_SIZE > len(data):
                raise DecodeError(Reason.TRUNCATED, f"block {index} runs past the end of the data")
            if data[end : end + _SYNC_SIZE] != c.sync:
                raise DecodeError(Reason.BAD_CONTAINER, f"block {index} is not followed by the sync marker")
            if count > limits.max_records_per_block:
                raise limits.exceeded("max_records_per_block", f"block {index} claims {count} records")
            block = _CODECS[c.codec](data[pos:end], limits)
            if count > max(len(block), 1):
                # Every alert record takes at least one byte: more records than bytes is a lie
                # that would otherwise cost one failure object per claimed record.
                raise limits.exceeded(
                    "max_records_per_block", f"block {index} claims {count} records in {len(block)} bytes"
                )
            total += len(block)
            if total > limits.max_message_bytes:
                yield Block(
                    index, 0, None, limits.exceeded("max_message_bytes", f"{total} bytes by block {index}")
                )
                return
            yield Block(index, count, block)
            pos = end + _SYNC_SIZE
        except DecodeError as exc:
            yield Block(index, 0, None, exc)
            # Skip to the next sync marker, where the next intact block starts.
            found = data.find(c.sync, pos)
            if found < 0:
                return
            pos = found + _SYNC_SIZE
        index += 1


def _null(raw: bytes, limits: DecodeLimits) -> bytes:
    if len(raw) > limits.max_block_bytes:
        raise limits.exceeded("max_block_bytes", f"block of {len(raw)} bytes")
    return raw


def _inflate(raw: bytes, limits: DecodeLimits) -> bytes:
    cap = limits.max_block_bytes
    try:
        out = zlib.decompressobj(-15).decompress(raw, cap + 1)
    except zlib.error as exc:
        raise DecodeError(Reason.BAD_BLOCK, f"corrupt deflate block: {exc}") from None
    if len(out) > cap:
        raise limits.exceeded("max_block_bytes", "deflate block inflates past the cap")
    return out


def _unsnappy(raw: bytes, limits: DecodeLimits) -> bytes:
    # Avro's snappy codec appends the big-endian CRC-32 of the uncompressed data.
    if len(raw) < 4:
        raise DecodeError(Reason.BAD_BLOCK, "snappy block shorter than its checksum")
    # Raw snappy starts with the uncompressed length: check it before allocating anything.
    try:
        claimed, _ = _uvarint(raw[:-4])
    except DecodeError:
        raise DecodeError(Reason.BAD_BLOCK, "corrupt snappy block: bad length header") from None
    if claimed > limits.max_block_bytes:
        raise limits.exceeded("max_block_bytes", f"snappy block claims {claimed} bytes")
    try:
        out = bytes(cramjam.snappy.decompress_raw(raw[:-4]))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise DecodeError(Reason.BAD_BLOCK, f"corrupt snappy block: {exc}") from None
    if zlib.crc32(out) != struct.unpack(">I", raw[-4:])[0]:
        raise DecodeError(Reason.BAD_BLOCK, "snappy block fails its CRC-32 check")
    return out


def _uvarint(buf: bytes) -> tuple[int, int]:
    """An unsigned little-endian base-128 integer (snappy's length header)."""
    value = shift = 0
    for pos, byte in enumerate(buf[:10]):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + 1
        shift += 7
    raise DecodeError(Reason.BAD_BLOCK, "bad varint")


class _Streaming(Protocol):
    eof: bool
    unused_data: bytes
    needs_input: bool

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _streaming(name: str, make: Callable[[], _Streaming], raw: bytes, limits: DecodeLimits) -> bytes:
    """Decompress concatenated streams (as bzip2 and xz tools write them), stopping at the cap."""
    cap, parts, size, rest = limits.max_block_bytes, [], 0, raw
    try:
        while rest:
            stream = make()
            part = stream.decompress(rest, cap + 1 - size)
            parts.append(part)
            size += len(part)
            if size > cap or (not stream.eof and not stream.needs_input):
                raise limits.exceeded("max_block_bytes", f"{name} block decompresses past the cap")
            if not stream.eof:
                break  # a truncated stream yields what it holds, as the one-shot decompressors do
            rest = stream.unused_data
    except (OSError, ValueError, EOFError, lzma.LZMAError) as exc:
        raise DecodeError(Reason.BAD_BLOCK, f"corrupt {name} block: {exc}") from None
    return b"".join(parts)


def _zstd(raw: bytes, limits: DecodeLimits) -> bytes:
    # cramjam inflates into a buffer of fixed size: one byte more than the cap shows overflow.
    # numpy leaves the buffer's pages untouched until written, so an honest block costs its size.
    cap = limits.max_block_bytes
    out = np.empty(cap + 1, dtype=np.uint8)
    try:
        size = int(cramjam.zstd.decompress_into(raw, out))  # type: ignore[arg-type]
    except Exception as exc:  # cramjam raises DecompressionError, also for a full buffer
        if "failed to write whole buffer" in str(exc):
            raise limits.exceeded("max_block_bytes", "zstandard block decompresses past the cap") from None
        raise DecodeError(Reason.BAD_BLOCK, f"corrupt zstandard block: {exc}") from None
    if size > cap:
        raise limits.exceeded("max_block_bytes", "zstandard block decompresses past the cap")
    return out[:size].tobytes()


_CODECS: dict[str, Callable[[bytes, DecodeLimits], bytes]] = {
    "null": _null,
    "deflate": _inflate,
    "snappy": _unsnappy,
    "zstandard": _zstd,
    "bzip2": partial(_streaming, "bzip2", cast(Callable[[], _Streaming], bz2.BZ2Decompressor)),
    "xz": partial(_streaming, "xz", cast(Callable[[], _Streaming], lzma.LZMADecompressor)),
}
