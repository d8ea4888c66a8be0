"""Hostile alert packets of issue 19, built as bytes, each with the outcome it must get.

Every builder is cheap: bombs are made by repeating one compressed stream or a
byte-aligned deflate chunk (codecs that accept concatenation), never by compressing
gigabytes, and each result is cached, so a test module can ask for them repeatedly.

`CASES` lists one `HostileCase` per packet: where its failure shows (`decode`: the last
result of `Decoder.decode`, a `DecodeFailure`, the only result but for `block_flood`;
`triplet`: the preprocessing error of the decoded alert; `ok`: an alert that decodes and
preprocesses) and the `Reason` it must get.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import cramjam
import fastavro
import numpy as np

from rbc1000.reasons import Reason
from tests.support.alert_factory import container, read_records

DATA = Path(__file__).resolve().parents[1] / "data" / "alerts"
BASE_ALERT = DATA / "ztf-avro-alert__alerts__1661382530015060001__schema3.5.avro"
SYNC = b"rbc-hostile-sync"  # 16 bytes
GIB = 1 << 30
Where = Literal["decode", "triplet", "ok"]


@dataclass(frozen=True)
class HostileCase:
    """One hostile packet: its name, how to build it, where its failure shows and the reason."""

    name: str
    build: Callable[[], bytes]
    where: Where
    reason: Reason | None


def zigzag(value: int) -> bytes:
    """Avro's zig-zag varint of a long (Python ints, so 2**62 encodes as Avro would)."""
    n = (value << 1) ^ (value >> 63) if value >= 0 else ((-value) << 1) - 1
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def ocf(schema_json: bytes, blocks: list[tuple[int, bytes]], codec: str = "null") -> bytes:
    """An Avro object container written by hand: blocks are (claimed record count, payload)."""
    meta = [(b"avro.schema", schema_json), (b"avro.codec", codec.encode())]
    out = [b"Obj\x01", zigzag(len(meta))]
    for key, value in meta:
        out += [zigzag(len(key)), key, zigzag(len(value)), value]
    out += [zigzag(0), SYNC]
    for count, payload in blocks:
        out += [zigzag(count), zigzag(len(payload)), payload, SYNC]
    return b"".join(out)


@cache
def base_alert() -> tuple[dict[str, Any], dict[str, Any]]:
    """(writer schema, record) of a real ZTF 3.5 alert vendored in tests/data."""
    schema, records = read_records(BASE_ALERT)
    return schema, records[0]


def alert_with(**changes: Any) -> bytes:
    """The base alert with record fields replaced (a cutout: pass its stampData bytes)."""
    schema, record = base_alert()
    record = dict(record)
    for name, value in changes.items():
        record[name] = (
            {"fileName": f"{name}.fits.gz", "stampData": value} if name.startswith("cutout") else value
        )
    return container(schema, [record])


def fits_bytes(cards: list[tuple[str, str]], data: bytes = b"") -> bytes:
    """A FITS file with the given value cards verbatim (so they may be malformed) and data."""
    lines = [f"{key:<8}= {value:>20}".ljust(80) for key, value in [("SIMPLE", "T"), *cards]]
    header = "".join(lines) + "END".ljust(80)
    header += " " * (-len(header) % 2880)
    return header.encode("ascii") + data + b"\0" * (-len(data) % 2880)


def image_cards(bitpix: int, nx: int, ny: int, **extra: str) -> list[tuple[str, str]]:
    return [("BITPIX", str(bitpix)), ("NAXIS", "2"), ("NAXIS1", str(nx)), ("NAXIS2", str(ny)), *extra.items()]


def records_bomb() -> bytes:
    """~185 bytes: one empty block claiming 2**62 zero-length records of a sender's schema.

    Reason.LIMIT_EXCEEDED (records per block: a block of 0 bytes may hold at most 1 record).
    """
    schema = b'{"type":"record","name":"bomb","namespace":"x","fields":[{"name":"candidate","type":"null"}]}'
    return ocf(schema, [(2**62, b"")])


@cache
def block_flood(size: int = 10 << 20) -> bytes:
    """10 MB of 18-byte blocks, each one zero-length record of a sender's schema (~580,000).

    Each record fails on its own (no `candidate`), so an uncapped decoder makes a failure
    object per block (1.6 GB). Reason.LIMIT_EXCEEDED (records per message) as the last result,
    after `max_records_per_message` failures.
    """
    schema = b'{"type":"record","name":"flood","namespace":"x","fields":[{"name":"candidate","type":"null"}]}'
    one = zigzag(1) + zigzag(0) + SYNC
    return ocf(schema, [(1, b"")]) + one * (size // len(one))


def _repeated_stream(codec: str) -> bytes:
    """>= 2 GiB of zeros as concatenated streams of one 64 MiB (xz: 256 MiB) compressed stream."""
    if codec == "bzip2":
        one, size = bz2.compress(bytes(64 << 20), 9), 64 << 20
    elif codec == "xz":
        one, size = lzma.compress(bytes(256 << 20), preset=0), 256 << 20
    else:
        one, size = bytes(cramjam.zstd.compress(bytes(64 << 20), 19)), 64 << 20
    return one * (2 * GIB // size)


@cache
def codec_bomb(codec: Literal["bzip2", "xz", "zstandard"]) -> bytes:
    """A container of the real ZTF schema whose one block inflates to 2 GiB of zeros.

    bzip2: ~22 kB, xz: ~330 kB, zstandard: ~86 kB. Reason.LIMIT_EXCEEDED (decompressed bytes
    per block), found by streaming decompression that stops at the cap.
    """
    schema, _ = base_alert()
    return ocf(json.dumps(schema).encode(), [(1, _repeated_stream(codec))], codec)


@cache
def deflate_bomb() -> bytes:
    """~1 MB: a deflate block inflating to 1 GiB of zeros (64 byte-aligned 16 MiB chunks).

    Reason.LIMIT_EXCEEDED (decompressed bytes per block).
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = compressor.compress(bytes(16 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    schema, _ = base_alert()
    return ocf(json.dumps(schema).encode(), [(1, chunk * 64 + final)], "deflate")


@cache
def big_legal_alert() -> bytes:
    """~1.3 MB: the base alert with a 600 x 600 float32 noise science stamp, gzipped.

    Legal: decodes to an Alert and preprocesses (reason None).
    """
    noise = np.random.default_rng(19).normal(100, 5, (600, 600)).astype(">f4")
    stamp = fits_bytes(image_cards(-32, 600, 600), noise.tobytes())
    return alert_with(cutoutScience=gzip.compress(stamp, 6))


@cache
def random_message(size: int = 10 << 20) -> bytes:
    """10 MB of random bytes (first byte forced non-zero). Reason.BAD_FRAMING."""
    data = bytearray(np.random.default_rng(10).bytes(size))
    data[0] = 0xA5
    return bytes(data)


@cache
def huge_bitpix8_stamp_alert() -> bytes:
    """A valid alert whose science stamp is 8192 x 8192 BITPIX=8 with BSCALE/BZERO (64 MiB
    inflated, ~400 kB gzipped). Decodes; Reason.LIMIT_EXCEEDED in preprocessing (stamp pixels).
    """
    pixels = np.tile(np.arange(7, dtype=np.uint8), 8192 * 8192 // 7 + 1)[: 8192 * 8192]
    stamp = fits_bytes(image_cards(8, 8192, 8192, BSCALE="0.5", BZERO="-1.0"), pixels.tobytes())
    return alert_with(cutoutScience=gzip.compress(stamp, 1))


def distinct_schema_alerts(count: int) -> Iterator[bytes]:
    """`count` copies of the base alert, each under a writer schema of its own (its `doc`).

    Each decodes; a decoder meeting all of them must keep its schema cache at its bound.
    """
    raw = BASE_ALERT.read_bytes()
    schema, _ = base_alert()
    sync_at = raw.index(_sync_of(raw), 4)
    for i in range(count):
        variant = json.dumps({**schema, "doc": f"variant {i}"}).encode()
        yield ocf_header(variant, raw[sync_at : sync_at + 16]) + raw[sync_at + 16 :]


def _sync_of(raw: bytes) -> bytes:
    return bytes(fastavro.reader(io.BytesIO(raw))._header["sync"])


def ocf_header(schema_json: bytes, sync: bytes, codec: bytes = b"null") -> bytes:
    """A container header (magic, metadata, sync) for `schema_json`."""
    meta = [(b"avro.schema", schema_json), (b"avro.codec", codec)]
    out = [b"Obj\x01", zigzag(len(meta))]
    for key, value in meta:
        out += [zigzag(len(key)), key, zigzag(len(value)), value]
    return b"".join([*out, zigzag(0), sync])


def _small_stamp(**cards: str) -> bytes:
    data = np.arange(63 * 63, dtype=">i2").tobytes()
    return gzip.compress(fits_bytes(image_cards(16, 63, 63, **cards), data))


def bad_bscale_alert() -> bytes:
    """A 63 x 63 BITPIX=16 science stamp whose BSCALE is 'abc'. Reason.BAD_FITS (triplet)."""
    return alert_with(cutoutScience=_small_stamp(BSCALE="abc"))


def bad_blank_alert() -> bytes:
    """A 63 x 63 BITPIX=16 science stamp whose BLANK is 1.5. Reason.BAD_FITS (triplet)."""
    return alert_with(cutoutScience=_small_stamp(BLANK="1.5"))


def naxis_overflow_alert() -> bytes:
    """A science stamp with NAXIS1 = NAXIS2 = 2**40 (the product overflows int64).

    Reason.LIMIT_EXCEEDED (stamp pixels), in preprocessing.
    """
    stamp = fits_bytes(image_cards(16, 2**40, 2**40))
    return alert_with(cutoutScience=gzip.compress(stamp))


def wrong_candidate_alert() -> bytes:
    """A ZTF-like schema whose `candidate` is a long, not a record. Reason.BAD_FIELD."""
    schema = {
        "type": "record",
        "name": "alert",
        "namespace": "ztf",
        "fields": [
            {"name": "objectId", "type": "string"},
            {"name": "candid", "type": "long"},
            {"name": "candidate", "type": "long"},
        ],
    }
    return container(schema, [{"objectId": "ZTF00aaaaaaa", "candid": 1, "candidate": 5}])


def deep_schema_alert(depth: int = 5000) -> bytes:
    """A container whose schema nests `depth` records under `candidate` (RecursionError bait).

    Reason.LIMIT_EXCEEDED (schema nesting depth), found before the JSON is parsed.
    """
    inner = '"null"'
    for level in range(depth):
        inner = f'{{"type":"record","name":"r{level}","fields":[{{"name":"f","type":{inner}}}]}}'
    schema = f'{{"type":"record","name":"alert","fields":[{{"name":"candidate","type":{inner}}}]}}'
    return ocf(schema.encode(), [(1, b"")])


CASES: tuple[HostileCase, ...] = (
    HostileCase("records_bomb", records_bomb, "decode", Reason.LIMIT_EXCEEDED),
    HostileCase("block_flood", block_flood, "decode", Reason.LIMIT_EXCEEDED),
    HostileCase("bzip2_bomb", lambda: codec_bomb("bzip2"), "decode", Reason.LIMIT_EXCEEDED),
    HostileCase("xz_bomb", lambda: codec_bomb("xz"), "decode", Reason.LIMIT_EXCEEDED),
    HostileCase("zstandard_bomb", lambda: codec_bomb("zstandard"), "decode", Reason.LIMIT_EXCEEDED),
    HostileCase("deflate_bomb", deflate_bomb, "decode", Reason.LIMIT_EXCEEDED),
    HostileCase("big_legal_alert", big_legal_alert, "ok", None),
    HostileCase("random_10mb", random_message, "decode", Reason.BAD_FRAMING),
    HostileCase("bitpix8_64mb_stamp", huge_bitpix8_stamp_alert, "triplet", Reason.LIMIT_EXCEEDED),
    HostileCase("bad_bscale", bad_bscale_alert, "triplet", Reason.BAD_FITS),
    HostileCase("bad_blank", bad_blank_alert, "triplet", Reason.BAD_FITS),
    HostileCase("naxis_overflow", naxis_overflow_alert, "triplet", Reason.LIMIT_EXCEEDED),
    HostileCase("wrong_candidate", wrong_candidate_alert, "decode", Reason.BAD_FIELD),
    HostileCase("deep_schema", deep_schema_alert, "decode", Reason.LIMIT_EXCEEDED),
)
