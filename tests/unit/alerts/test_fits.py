"""The fast FITS path equals astropy on every real stamp, and refuses what is not FITS."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rbc1000.alerts.alert import Alert, DecodeError
from rbc1000.alerts.fits import read_stamp
from rbc1000.alerts.sources import iter_alerts


def astropy_stamp(data: bytes) -> np.ndarray:
    handle = gzip.GzipFile(fileobj=io.BytesIO(data)) if data[:2] == b"\x1f\x8b" else io.BytesIO(data)
    with fits.open(handle) as hdus:
        return np.asarray(hdus[0].data, dtype=np.float32)


def all_stamps(root: Path) -> list[bytes]:
    stamps = []
    for _, _, result in iter_alerts([root]):
        if isinstance(result, Alert):
            c = result.cutouts
            stamps += [s for s in (c.science, c.template, c.difference) if s is not None]
    return stamps


def test_fast_path_equals_astropy_on_every_corpus_stamp(shared_data: Path) -> None:
    stamps = all_stamps(shared_data)
    assert len(stamps) >= 3 * 1046  # every ZTF alert with cutouts plus the LSST ones
    for data in stamps:
        ours, theirs = read_stamp(data), astropy_stamp(data)
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)  # NaN positions must match too


def test_fast_path_equals_astropy_on_vendored_stamps(vendored_alerts: Path) -> None:
    stamps = all_stamps(vendored_alerts)
    assert stamps
    for data in stamps:
        np.testing.assert_array_equal(read_stamp(data), astropy_stamp(data))


def _fits_bytes(array: np.ndarray, **header: float) -> bytes:
    hdu = fits.PrimaryHDU(array)
    for key, value in header.items():
        hdu.header[key] = value
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def test_integer_stamps_are_scaled_like_astropy() -> None:
    data = _fits_bytes(np.arange(12, dtype=np.int16).reshape(3, 4), BSCALE=2.0, BZERO=10.0)
    np.testing.assert_allclose(read_stamp(data), astropy_stamp(data))


def test_image_in_an_extension_is_found() -> None:
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((5, 7), np.float32))])
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    assert read_stamp(buffer.getvalue()).shape == (5, 7)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a fits file at all",
        b"\x1f\x8b\x08\x00garbage",
        b"SIMPLE  =                    T" + b" " * 50,  # header without END
    ],
)
def test_non_fits_is_a_typed_error(data: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        read_stamp(data)
    assert info.value.reason == "bad_fits"


def test_truncated_data_is_a_typed_error() -> None:
    data = _fits_bytes(np.ones((63, 63), np.float32))
    with pytest.raises(DecodeError, match="truncated"):
        read_stamp(data[: 2880 + 100])
