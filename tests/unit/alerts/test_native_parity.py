"""The compiled decode core gives what the Python path gives: same records, reasons and triplets.

Every real alert must decode to equal `Alert` records and to triplets within 1e-6 of the
reference, for every preprocessing version the core implements; every hypothesis fuzz case
(truncations, bit flips, random bytes) must end the same way on both paths, reason included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rbc1000 import _native
from rbc1000.alerts.alert import Alert
from rbc1000.alerts.limits import DecodeLimits
from rbc1000.alerts.native import (
    DecodedBatch,
    DecodePathError,
    NativeBatchDecoder,
    PythonBatchDecoder,
    make_batch_decoder,
    native_available,
    native_versions,
    resolve_path,
)
from rbc1000.model import preprocessing
from rbc1000.model.preprocessing import PP_V1, PP_V2
from tests.support import hostile
from tests.support.alert_factory import container, read_records
from tests.support.kafka_fakes import ALERTS
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
    assert native.version == python.version
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


@pytest.mark.parametrize("version", [PP_V1, PP_V2])
def test_every_shared_alert_matches(shared_data: Path, decoders, version: str) -> None:  # type: ignore[no-untyped-def]
    packets = [path.read_bytes() for path in sorted(shared_data.rglob("*.avro"))]
    native, python = decoders
    assert native.preprocessing(version) == "native"
    for start in range(0, len(packets), 64):
        chunk = packets[start : start + 64]
        assert_same(native.decode_batch(chunk, version), python.decode_batch(chunk, version))


def test_the_core_implements_the_versions_it_declares() -> None:
    assert set(native_versions()) <= set(preprocessing.PREPROCESSING_VERSIONS)
    assert np.float32(_native.SENTINEL_ABS) == np.float32(preprocessing.SENTINEL_ABS)


def test_sentinel_pixels_are_masked_by_rbc_pp_2_only(decoders) -> None:  # type: ignore[no-untyped-def]
    """A stamp marking masked pixels with the float32 minimum: rbc-pp-2 masks them, rbc-pp-1 does not."""
    native, python = decoders
    packet = marked_packet(SAMPLES["lsst_confluent"])
    for version in (PP_V1, PP_V2):
        assert_same(native.decode_batch([packet], version), python.decode_batch([packet], version))
    one, two = (native.decode_batch([packet], v).triplets for v in (PP_V1, PP_V2))
    assert not np.allclose(one, two)


def marked_packet(packet: bytes) -> bytes:
    """The packet with the first 64 pixels of its first plain float32 FITS image set to -3.4e38."""
    bitpix = packet.index(b"BITPIX  =                  -32")
    start = packet.rindex(b"SIMPLE  =", 0, bitpix)
    data = start + ((packet.index(b"END" + b" " * 77, bitpix) - start) // 2880 + 1) * 2880
    marker = np.full(64, np.finfo(np.float32).min, dtype=">f4").tobytes()
    return packet[:data] + marker + packet[data + len(marker) :]


def test_a_version_the_core_lacks_is_preprocessed_in_python(
    decoders: tuple[NativeBatchDecoder, PythonBatchDecoder], monkeypatch: pytest.MonkeyPatch
) -> None:
    native, python = decoders
    monkeypatch.setattr("rbc1000.alerts.native.native_versions", lambda: (PP_V1,))
    assert native.preprocessing(PP_V2) == "python"
    batch = [*SAMPLES.values(), b"junk"]
    assert_same(native.decode_batch(batch, PP_V2), python.decode_batch(batch, PP_V2))


def test_vendored_samples_and_full_records_match(decoders) -> None:  # type: ignore[no-untyped-def]
    native, python = decoders
    for data in SAMPLES.values():
        both(decoders, data)
        [a] = native.decode(data)
        [b] = python.decode(data)
        assert isinstance(a, Alert) and isinstance(b, Alert)
        assert a.record().keys() == b.record().keys()


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
def test_containers_of_many_alerts_match(
    decoders: tuple[NativeBatchDecoder, PythonBatchDecoder], codec: str
) -> None:
    """More records than packets: the core's triplets overflow the array sized by packets."""
    native, python = decoders
    schema, records = read_records(next(iter(sorted(ALERTS.glob("fink-broker__ztf_v4.02__*.avro")))))
    many = container(schema, records * 5, codec, sync_interval=100_000)
    batch = [many, SAMPLES["lsst_confluent"], container(schema, records * 3, codec, sync_interval=1)]
    decoded = native.decode_batch(batch)
    assert len(decoded.triplets) == 9 > len(batch)
    assert_same(decoded, python.decode_batch(batch))


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


@pytest.mark.parametrize("case", hostile.CASES, ids=[c.name for c in hostile.CASES])
def test_hostile_packets_match(decoders, case: hostile.HostileCase) -> None:  # type: ignore[no-untyped-def]
    both(decoders, case.build())


@pytest.mark.parametrize("version", [PP_V1, PP_V2])
def test_a_batch_of_every_hostile_packet_and_a_good_one_matches(decoders, version: str) -> None:  # type: ignore[no-untyped-def]
    native, python = decoders
    good = hostile.BASE_ALERT.read_bytes()
    packets = [good, *(case.build() for case in hostile.CASES), good]
    batch = native.decode_batch(packets, version)
    assert_same(batch, python.decode_batch(packets, version))
    assert batch.triplets.shape[0] == 3  # the two good alerts and the legal 600 x 600 one


@pytest.mark.parametrize(
    "limits",
    [
        DecodeLimits(max_block_bytes=20_000),
        DecodeLimits(max_stamp_pixels=4000),
        DecodeLimits(max_message_bytes=1024),
    ],
)
def test_caps_passed_in_give_the_same_outcomes(limits: DecodeLimits) -> None:
    native, python = NativeBatchDecoder(limits=limits), PythonBatchDecoder(limits=limits)
    packets = [*SAMPLES.values(), hostile.big_legal_alert()]
    assert_same(native.decode_batch(packets), python.decode_batch(packets))


def test_auto_means_native_when_built_and_python_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_path("auto") == "native"
    assert make_batch_decoder("auto").path == "native"
    assert make_batch_decoder("python").path == "python"
    monkeypatch.setattr("rbc1000.alerts.native._native", None)
    assert resolve_path("auto") == "python"
    with pytest.raises(DecodePathError, match="not installed"):
        make_batch_decoder("native")
