"""Property-based fuzzing of the decoder with truncated and bit-flipped real packets.

Whatever the bytes, decoding returns typed results (never raises, never hangs), and
building a triplet from a decoded alert raises nothing but DecodeError.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure
from rbc1000.alerts.decoding import Decoder
from rbc1000.model.preprocessing import triplet_from_cutouts
from tests.conftest import VENDORED
from tests.support.alert_factory import LSST_9_0_ID, confluent, read_records

SAMPLES = {
    "ztf_ipac_3.3": (VENDORED / "ztf-avro-alert__alerts__472263571115115000__schema3.3.avro").read_bytes(),
    "ztf_spark_snappy": next(iter(sorted(VENDORED.glob("alerce-pipeline__ztf__1*.avro")))).read_bytes(),
    "ztf_fink_4.02": next(iter(sorted(VENDORED.glob("fink-broker__ztf_v4.02__*.avro")))).read_bytes(),
    "lsst_confluent": confluent(
        LSST_9_0_ID, read_records(next(iter(sorted(VENDORED.glob("lsst-real__*.avro")))))[1][0]
    ),
}
DECODER = Decoder()
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_everything(data: bytes) -> None:
    results = DECODER.decode(data)
    assert results, "decode must report something for every message"
    for result in results:
        assert isinstance(result, Alert | DecodeFailure)
        if isinstance(result, DecodeFailure):
            assert isinstance(result.error, DecodeError) and result.error.reason
            continue
        try:
            triplet = triplet_from_cutouts(result.cutouts)
            assert triplet.shape == (3, 63, 63)
        except DecodeError as exc:
            assert exc.reason


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(SAMPLES))
@FUZZ
@given(cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_packets(name: str, cut: float) -> None:
    data = SAMPLES[name]
    decode_everything(data[: int(len(data) * cut)])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(SAMPLES))
@FUZZ
@given(
    flips=st.lists(
        st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=8
    )
)
def test_bit_flipped_packets(name: str, flips: list[tuple[float, int]]) -> None:
    data = bytearray(SAMPLES[name])
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    decode_everything(bytes(data))


@pytest.mark.timeout(120)
@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    decode_everything(data)
    decode_everything(b"Obj\x01" + data)
    decode_everything(b"\x00\x00\x00\x03\x84" + data)


def test_samples_decode_cleanly() -> None:
    for data in SAMPLES.values():
        [alert] = DECODER.decode(data)
        assert isinstance(alert, Alert)
