"""The shared preprocessing function: shapes, centring, non-finite pixels, refusal of empty stamps,
and the versions: rbc-pp-2 masks sentinel pixels that rbc-pp-1 feeds into its statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rbc1000.alerts.alert import Alert, Cutouts, DecodeError
from rbc1000.alerts.fits import read_stamp
from rbc1000.alerts.sources import iter_alerts
from rbc1000.model.decisions import ScoredAlert, score_batch
from rbc1000.model.preprocessing import (
    PP_V1,
    PP_V2,
    PREPROCESSING_VERSION,
    PREPROCESSING_VERSIONS,
    SENTINEL_ABS,
    TRIPLET_SHAPE,
    center_to_size,
    make_triplet,
    normalise_stamp,
    preprocess,
    triplet_from_cutouts,
)
from rbc1000.model.scoring import Scorer

# Vendored real ZTF alerts whose reference stamp marks masked pixels with about -3.4e38.
SENTINEL_ALERTS = (
    "ztf-avro-alert__alerts__472263571115090000__schema2.0.avro",
    "fink-broker__ztf_v4.02__2481169255715015001.avro",
)
DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "models" / "rbc-compact-default.onnx"

RNG = np.random.default_rng(7)


def noise(shape: tuple[int, int], sigma: float = 3.0, level: float = 100.0) -> np.ndarray:
    return (RNG.normal(level, sigma, size=shape)).astype(np.float32)


def test_version_names_the_contract() -> None:
    assert PREPROCESSING_VERSIONS == ("rbc-pp-1", "rbc-pp-2")
    assert PREPROCESSING_VERSION == PP_V2  # what new models are trained with


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="rbc-pp-9"):
        make_triplet(noise((63, 63)), noise((63, 63)), noise((63, 63)), version="rbc-pp-9")


def test_versions_agree_without_sentinels() -> None:
    stamps = (noise((63, 63)), noise((63, 50)), noise((63, 63)))
    stamps[0][3:9, 40:50] = np.nan
    one, two = preprocess(stamps, PP_V1), preprocess(stamps, PP_V2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, make_triplet(*stamps))  # the default stays rbc-pp-1


def test_pp2_masks_sentinels_before_any_statistic() -> None:
    reference = noise((63, 63))
    masked_ref = reference.copy()
    masked_ref[:20] = np.finfo(np.float32).min
    science, difference = noise((63, 63)), noise((63, 63))
    nan_ref = reference.copy()
    nan_ref[:20] = np.nan
    out = make_triplet(science, masked_ref, difference, version=PP_V2)
    np.testing.assert_array_equal(out, make_triplet(science, nan_ref, difference, version=PP_V2))
    assert (out[1, :20] == 0).all()
    assert abs(float(np.median(out[1, 20:]))) < 0.2  # statistics of the unmasked pixels only
    assert (
        make_triplet(science, masked_ref, difference, version=PP_V1)[1, :20].max() < -10
    )  # rbc-pp-1: extreme


def _sentinel_alerts(vendored_alerts: Path) -> list[Alert]:
    alerts = [
        item.result
        for name in SENTINEL_ALERTS
        for item in iter_alerts([vendored_alerts / name])
        if isinstance(item.result, Alert)
    ]
    assert len(alerts) == len(SENTINEL_ALERTS)
    return alerts


def test_sentinel_alerts_give_finite_triplets_with_masked_pixels_zero(vendored_alerts: Path) -> None:
    for alert in _sentinel_alerts(vendored_alerts):
        cut = alert.cutouts
        assert cut.science is not None and cut.template is not None and cut.difference is not None
        raw = [center_to_size(read_stamp(b)) for b in (cut.science, cut.template, cut.difference)]
        with np.errstate(invalid="ignore"):
            mask = np.stack([~np.isfinite(r) | (np.abs(r) >= SENTINEL_ABS) for r in raw])
        assert (np.abs(raw[1][np.isfinite(raw[1])]) >= SENTINEL_ABS).any()  # the sentinel is there
        triplet = triplet_from_cutouts(cut, PP_V2)
        assert np.isfinite(triplet).all()
        assert (triplet[mask] == 0).all()
        assert np.abs(triplet).max() < 50  # no pixel standardised by a sentinel-blown scale


def test_sentinel_alerts_score_finite_with_the_default_model(vendored_alerts: Path) -> None:
    scorer = Scorer.load(DEFAULT_MODEL, "cpu")
    outcomes = score_batch(list(_sentinel_alerts(vendored_alerts)), scorer)
    assert all(
        isinstance(o, ScoredAlert) and o.p_real is not None and np.isfinite(o.p_real) for o in outcomes
    )


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
