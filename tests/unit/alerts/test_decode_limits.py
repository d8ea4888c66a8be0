"""Bounded decoding (issue 19): every hostile packet ends in its typed reason on both paths,
every cap is configurable and named in the failure, and the schema cache keeps its bound."""

from __future__ import annotations

import bz2
import io
import json
import lzma
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cramjam
import fastavro
import numpy as np
import pytest

from rbc1000.alerts.alert import Alert, DecodeError
from rbc1000.alerts.decoding import Decoder
from rbc1000.alerts.fits import read_stamp
from rbc1000.alerts.limits import DecodeLimits, json_depth
from rbc1000.alerts.native import (
    BatchDecoder,
    DecodedBatch,
    NativeBatchDecoder,
    PythonBatchDecoder,
    native_available,
)
from rbc1000.reasons import Reason
from tests.support import hostile
from tests.support.alert_factory import read_records

PATHS = ["python", pytest.param("native", marks=pytest.mark.skipif(not native_available(), reason="no core"))]


def make(path: str, limits: DecodeLimits | None = None) -> BatchDecoder:
    limits = limits or DecodeLimits()
    return NativeBatchDecoder(limits=limits) if path == "native" else PythonBatchDecoder(limits=limits)


def outcome(batch: DecodedBatch) -> tuple[str, Reason | None]:
    """Where the last item failed (decode, triplet, or ok) and with which reason."""
    item = batch.items[-1]
    if not isinstance(item.result, Alert):
        return "decode", item.result.error.reason
    if item.triplet_error is not None:
        return "triplet", item.triplet_error.reason
    return "ok", None


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", hostile.CASES, ids=[c.name for c in hostile.CASES])
def test_hostile_packet_gets_its_reason(case: hostile.HostileCase, path: str) -> None:
    batch = make(path).decode_batch([case.build()])
    assert outcome(batch) == (case.where, case.reason)
    assert len(batch.items) == (
        1 if case.name != "block_flood" else DecodeLimits().max_records_per_message + 1
    )


@pytest.mark.parametrize("path", PATHS)
def test_legal_big_alert_has_a_triplet(path: str) -> None:
    batch = make(path).decode_batch([hostile.big_legal_alert()])
    assert batch.triplets.shape == (1, 3, 63, 63) and np.isfinite(batch.triplets).all()


def first_failure(path: str, limits: DecodeLimits, data: bytes) -> DecodeError:
    item = make(path, limits).decode_batch([data]).items[0]
    error = item.triplet_error if isinstance(item.result, Alert) else item.result.error
    assert error is not None
    return error


REAL = hostile.BASE_ALERT


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("cap", "value", "packet"),
    [
        ("max_block_bytes", 1024, lambda: REAL.read_bytes()),
        ("max_message_bytes", 1024, lambda: REAL.read_bytes()),
        ("max_stamp_pixels", 63 * 63, hostile.big_legal_alert),
        ("max_schema_bytes", 1024, lambda: REAL.read_bytes()),
        ("max_schema_depth", 4, lambda: REAL.read_bytes()),
        ("max_records_per_block", 2, lambda: three_records("deflate")),
        ("max_records_per_message", 2, lambda: three_records("null")),
    ],
)
def test_each_cap_is_configurable_and_named(path: str, cap: str, value: int, packet: Any) -> None:
    error = first_failure(path, DecodeLimits(**{cap: value}), packet())
    assert error.reason == Reason.LIMIT_EXCEEDED
    assert f"decode_limits.{cap}" in error.detail


def three_records(codec: str) -> bytes:
    """One block of three real records (~65 kB each), compressed with `codec`."""
    schema, records = read_records(REAL)
    body = io.BytesIO()
    for _ in range(3):
        fastavro.schemaless_writer(body, fastavro.parse_schema(schema, named_schemas={}), records[0])
    raw = body.getvalue()
    compress: Callable[[bytes], bytes] = {
        "null": lambda d: d,
        "deflate": lambda d: zlib.compress(d)[2:-4],
        "snappy": lambda d: bytes(cramjam.snappy.compress_raw(d)) + struct.pack(">I", zlib.crc32(d)),
        "zstandard": lambda d: bytes(cramjam.zstd.compress(d)),
        "bzip2": bz2.compress,
        "xz": lzma.compress,
    }[codec]
    return hostile.ocf(json.dumps(schema).encode(), [(3, compress(raw))], codec)


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "zstandard", "bzip2", "xz"])
def test_every_codec_stops_at_the_block_cap(codec: str) -> None:
    data = three_records(codec)
    assert all(isinstance(r, Alert) for r in Decoder().decode(data))
    [failure] = Decoder(limits=DecodeLimits(max_block_bytes=100_000)).decode(data)
    assert not isinstance(failure, Alert)
    assert failure.error.reason == Reason.LIMIT_EXCEEDED and "max_block_bytes" in failure.error.detail


def test_schema_cache_keeps_its_bound() -> None:
    decoder = Decoder(limits=DecodeLimits(schema_cache_size=64))
    seen = 0
    for seen, data in enumerate(hostile.distinct_schema_alerts(3000), start=1):
        [alert] = decoder.decode(data)
        assert isinstance(alert, Alert)
        assert len(decoder.plans) == min(seen, 64)
    assert seen == 3000


@pytest.mark.skipif(not native_available(), reason="no core")
def test_the_native_core_keeps_no_more_plans_than_the_cache_bound() -> None:
    decoder = NativeBatchDecoder(limits=DecodeLimits(schema_cache_size=16))
    first = None
    for seen, data in enumerate(hostile.distinct_schema_alerts(100), start=1):
        [alert] = decoder.decode(data)
        assert isinstance(alert, Alert)
        assert len(decoder._tags) - 1 <= 17  # the bound, plus the one this batch brought
        first = first or decoder.core
        if seen == 17:
            assert decoder.core is first  # replaced only once past the bound
    assert decoder.core is not first


def test_cache_keeps_the_most_recently_used() -> None:
    decoder = Decoder(limits=DecodeLimits(schema_cache_size=2))
    a, b, c = hostile.distinct_schema_alerts(3)
    for data in (a, b, a, c):  # c evicts b, the least recently used
        decoder.decode(data)
    keys = list(decoder.plans._plans)
    assert len(keys) == 2 and decoder.plan_for_json(json_schema_of(a)) is decoder.plans._plans[keys[0]]


def json_schema_of(data: bytes) -> bytes:
    from rbc1000.alerts.container import parse_container

    return parse_container(data).schema_json


@pytest.mark.parametrize("path", PATHS)
def test_unforeseen_exceptions_are_decoder_errors(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import rbc1000.alerts.decoding as decoding
    import rbc1000.alerts.native as native

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(decoding, "to_alert", broken)
    monkeypatch.setattr(native, "to_alert", broken)
    item = make(path).decode_batch([REAL.read_bytes()]).items[0]
    assert not isinstance(item.result, Alert)
    assert item.result.error.reason == Reason.DECODER_ERROR and "KeyError" in item.result.error.detail


def test_preprocessing_exception_is_a_decoder_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import rbc1000.alerts.native as native

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("surprise")

    monkeypatch.setattr(native, "make_triplet", broken)
    item = PythonBatchDecoder().decode_batch([REAL.read_bytes()]).items[0]
    assert isinstance(item.result, Alert) and item.triplet_error is not None
    assert (
        item.triplet_error.reason == Reason.DECODER_ERROR and "ZeroDivisionError" in item.triplet_error.detail
    )


@pytest.mark.skipif(not native_available(), reason="no core")
def test_a_core_failure_falls_back_to_python() -> None:
    decoder = NativeBatchDecoder()

    class Panicking:
        def decode_batch(self, *args: Any) -> Any:
            raise BaseException("a Rust panic")  # what pyo3's PanicException derives from

    decoder.core = Panicking()  # type: ignore[assignment]
    batch = decoder.decode_batch([REAL.read_bytes(), b"junk"])
    assert isinstance(batch.items[0].result, Alert) and batch.items[0].row == 0
    assert outcome(batch) == ("decode", Reason.BAD_FRAMING)


def test_bscale_is_applied_in_float32_in_place() -> None:
    pixels = (np.arange(300 * 200) % 256).astype(np.uint8).reshape(300, 200)
    stamp = hostile.fits_bytes(
        hostile.image_cards(8, 200, 300, BSCALE="0.5", BZERO="-3", BLANK="7"), pixels.tobytes()
    )
    image = read_stamp(stamp)
    expected = pixels.astype(np.float32) * np.float32(0.5) + np.float32(-3)
    expected[pixels == 7] = np.nan
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, expected)


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": "[[[{\\"", "b": [1, {}]}', 100) == 3
    assert json_depth(b"[" * 10_000, 64) == 65


def test_vendored_schemas_fit_the_default_caps(vendored_alerts: Path) -> None:
    limits = DecodeLimits()
    for path in sorted(vendored_alerts.glob("*.avro")):
        schema_json = json_schema_of(path.read_bytes())
        assert len(schema_json) <= limits.max_schema_bytes
        assert json_depth(schema_json, 1000) <= limits.max_schema_depth
