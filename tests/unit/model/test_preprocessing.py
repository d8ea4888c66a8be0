"""The shared preprocessing function: shapes, centring, non-finite pixels, refusal of empty stamps."""

from __future__ import annotations

import numpy as np
import pytest

from rbc1000.alerts.alert import Cutouts, DecodeError
from rbc1000.model.preprocessing import (
    PREPROCESSING_VERSION,
    TRIPLET_SHAPE,
    center_to_size,
    make_triplet,
    normalise_stamp,
    triplet_from_cutouts,
)

RNG = np.random.default_rng(7)


def noise(shape: tuple[int, int], sigma: float = 3.0, level: float = 100.0) -> np.ndarray:
    return (RNG.normal(level, sigma, size=shape)).astype(np.float32)


def test_version_names_the_contract() -> None:
    assert PREPROCESSING_VERSION == "rbc-pp-1"


def test_output_is_float32_finite_and_63x63() -> None:
    out = make_triplet(noise((63, 63)), noise((63, 63)), noise((63, 63)))
    assert out.shape == TRIPLET_SHAPE and out.dtype == np.float32 and np.isfinite(out).all()


def test_noise_is_standardised_to_unit_scale() -> None:
    out = normalise_stamp(noise((63, 63), sigma=50.0, level=1e4))
    assert abs(float(np.median(out))) < 0.1
    assert 0.7 < float(np.std(out)) < 1.1  # asinh(z) of unit normal has std about 0.87


def test_edge_stamp_is_centred_and_padded_with_background() -> None:
    stamp = np.zeros((63, 42), np.float32)
    stamp[31, 21] = 1.0  # the central pixel of the cut stamp
    padded = center_to_size(stamp)
    assert padded.shape == (63, 63)
    assert padded[31, 31] == 1.0
    assert np.isnan(padded[:, :10]).all() and np.isnan(padded[:, -11:]).all()
    out = make_triplet(stamp + noise((63, 42)), noise((63, 42)), noise((63, 42)))
    assert (out[:, :, :10] == 0).all()


def test_large_stamp_is_cropped_around_its_centre() -> None:
    stamp = np.zeros((67, 67), np.float32)
    stamp[33, 33] = 5.0
    assert center_to_size(stamp)[31, 31] == 5.0


def test_small_lsst_stamp_is_padded() -> None:
    out = make_triplet(noise((30, 30)), noise((30, 30)), noise((30, 30)))
    assert out.shape == TRIPLET_SHAPE and (out[:, :16, :] == 0).all()


def test_nan_and_inf_become_background() -> None:
    stamp = noise((63, 63))
    stamp[0, 0], stamp[1, 1], stamp[2, 2] = np.nan, np.inf, -np.inf
    out = make_triplet(stamp, noise((63, 63)), noise((63, 63)))
    assert out[0, 0, 0] == 0 and out[0, 1, 1] == 0 and out[0, 2, 2] == 0
    assert np.isfinite(out).all()


def test_mostly_nan_stamp_matches_single_stamp_path() -> None:
    stamp = noise((63, 63))
    stamp[:, :55] = np.nan
    out = make_triplet(stamp, noise((63, 63)), noise((63, 63)))
    np.testing.assert_allclose(out[0], normalise_stamp(stamp), atol=1e-6)


def test_all_nan_stamp_is_refused() -> None:
    with pytest.raises(DecodeError) as info:
        make_triplet(np.full((63, 63), np.nan, np.float32), noise((63, 63)), noise((63, 63)))
    assert info.value.reason == "empty_stamp"


def test_flat_stamp_does_not_divide_by_zero() -> None:
    out = make_triplet(np.full((63, 63), 7.0, np.float32), noise((63, 63)), noise((63, 63)))
    assert np.isfinite(out).all() and (out[0] == 0).all()


@pytest.mark.parametrize("shape", [(0, 63), (63,), (3, 63, 63)])
def test_odd_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(DecodeError):
        make_triplet(np.zeros(shape, np.float32), noise((63, 63)), noise((63, 63)))


def test_missing_cutouts_are_named() -> None:
    with pytest.raises(DecodeError) as info:
        triplet_from_cutouts(Cutouts(b"x", None, None))
    assert info.value.reason == "missing_cutouts" and "template" in str(info.value)


def test_deterministic() -> None:
    a, b, c = noise((63, 63)), noise((63, 63)), noise((63, 63))
    np.testing.assert_array_equal(make_triplet(a, b, c), make_triplet(a, b, c))
