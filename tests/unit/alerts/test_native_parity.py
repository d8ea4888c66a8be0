"""The compiled decode core gives what the Python path gives: same records, reasons and triplets.

Every real alert must decode to equal `Alert` records and to triplets within 1e-6 of the
reference; every hypothesis fuzz case (truncations, bit flips, random bytes) must end the
same way on both paths, reason included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.native import (
    DecodedBatch,
    NativeBatchDecoder,
    PythonBatchDecoder,
    make_batch_decoder,
    native_available,
    resolve_path,
)
from tests.unit.alerts.test_decoding_fuzz import FUZZ, SAMPLES

pytestmark = pytest.mark.skipif(
    not native_available(), reason="rbc1000._native is not built (maturin build -m native/Cargo.toml)"
)
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def decoders() -> tuple[NativeBatchDecoder, PythonBatchDecoder]:
    return NativeBatchDecoder(), PythonBatchDecoder()


def outcome(batch: DecodedBatch) -> list[tuple[object, ...]]:
    """What each item came to: the Alert itself or the failure's index and reason, and its triplet."""
    out: list[tuple[object, ...]] = []
    for item in batch.items:
        result = item.result
        decoded = result if isinstance(result, Alert) else (result.index, result.error.reason)
        triplet = item.triplet_error.reason if item.triplet_error else item.row is not None
        out.append((item.message, decoded, triplet))
    return out


def assert_same(native: DecodedBatch, python: DecodedBatch) -> None:
    assert outcome(native) == outcome(python)
    for a, b in zip(native.items, python.items, strict=True):
        if a.row is not None and b.row is not None:
            diff = np.max(np.abs(native.triplets[a.row] - python.triplets[b.row]))
            assert diff <= TOLERANCE, f"message {a.message}: triplets differ by {diff}"


def both(decoders: tuple[NativeBatchDecoder, PythonBatchDecoder], data: bytes) -> None:
    native, python = decoders
    assert_same(native.decode_batch([data]), python.decode_batch([data]))
    assert [_key(r) for r in native.decode(data)] == [_key(r) for r in python.decode(data)]


def _key(result: object) -> object:
    return result if isinstance(result, Alert) else (result.index, result.error.reason)  # type: ignore[attr-defined]


def test_every_shared_alert_matches(shared_data: Path, decoders) -> None:  # type: ignore[no-untyped-def]
    packets = [path.read_bytes() for path in sorted(shared_data.rglob("*.avro"))]
    native, python = decoders
    for start in range(0, len(packets), 64):
        chunk = packets[start : start + 64]
        assert_same(native.decode_batch(chunk), python.decode_batch(chunk))


def test_vendored_samples_and_full_records_match(decoders) -> None:  # type: ignore[no-untyped-def]
    native, python = decoders
    for data in SAMPLES.values():
        both(decoders, data)
        [a] = native.decode(data)
        [b] = python.decode(data)
        assert isinstance(a, Alert) and isinstance(b, Alert)
        assert a.record().keys() == b.record().keys()


def test_a_batch_mixing_framings_and_garbage_matches(decoders) -> None:  # type: ignore[no-untyped-def]
    native, python = decoders
    batch = [*SAMPLES.values(), b"", b"junk", b"Obj\x01", b"\x00\x00\x00\x99\x99", *SAMPLES.values()]
    assert_same(native.decode_batch(batch), python.decode_batch(batch))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(SAMPLES))
@FUZZ
@given(cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_packets_match(decoders, name: str, cut: float) -> None:  # type: ignore[no-untyped-def]
    data = SAMPLES[name]
    both(decoders, data[: int(len(data) * cut)])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(SAMPLES))
@FUZZ
@given(
    flips=st.lists(
        st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=8
    )
)
def test_bit_flipped_packets_match(decoders, name: str, flips: list[tuple[float, int]]) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(SAMPLES[name])
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    both(decoders, bytes(data))


@pytest.mark.timeout(300)
@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_match(decoders, data: bytes) -> None:  # type: ignore[no-untyped-def]
    for framed in (data, b"Obj\x01" + data, b"\x00\x00\x00\x03\x84" + data):
        both(decoders, framed)


def test_path_is_chosen_by_argument_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBC_DECODE_PATH", "python")
    assert resolve_path() == "python"
    assert make_batch_decoder().path == "python"
    assert resolve_path("native") == "native"
    monkeypatch.setenv("RBC_DECODE_PATH", "auto")
    assert make_batch_decoder().path == "native"
    monkeypatch.setenv("RBC_DECODE_PATH", "fast")
    with pytest.raises(ValueError):
        resolve_path()
