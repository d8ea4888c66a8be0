"""The one preprocessing function shared by training and serving.

`make_triplet` turns (science, reference, difference) stamps of any size into a float32
array `[3, 63, 63]`. Its behaviour is versioned: every exported model names the version it
was trained with (`PREPROCESSING_VERSION`, the latest, for new models) and the service
preprocesses each model's inputs with that version (`PREPROCESSING_VERSIONS` lists those
this code implements). Change the maths here and add a version, or deployed models will
silently see other inputs. `version` defaults to rbc-pp-1, the version the compiled decode
core (`rbc1000.alerts.native`) implements, so its parity reference stays what it was.

rbc-pp-1, per stamp:
1. centred crop to 63 x 63, or centred pad with NaN (CCD-edge stamps, small Rubin stamps);
2. robust standardisation: subtract the median of the finite pixels and divide by the
   noise estimated as 1.4826 x MAD (falling back to the standard deviation, then to 1 for a
   flat stamp), so each stamp is in units of its own background noise; both statistics
   come from the pixels on even rows and columns (see `_robust_location_scale`);
3. arcsinh compression, which keeps faint signal linear (asinh(z) ~ z for |z| < 1) and keeps
   saturated stars within a few tens, so no single pixel dominates the network;
4. NaN and +-inf pixels (masked, off the CCD) become 0, the background level.
A stamp without a single finite pixel carries no information and is refused.

rbc-pp-2 is rbc-pp-1 with one step first: after step 1, every pixel with |value| >= 1e30
(`SENTINEL_ABS`) is set to NaN, so it counts as masked in steps 2 and 4. Some ZTF reference
stamps mark masked pixels with about -3.4e38 (the float32 minimum) instead of NaN; in
rbc-pp-1 those values enter the median and MAD and the whole stamp collapses. The mask of a
stamp, in rbc-pp-2, is therefore: NaN, +-inf, |value| >= 1e30, and the padding of a stamp
smaller than 63 x 63; every masked pixel is 0 in the output, and no statistic sees one.
"""

from __future__ import annotations

import numpy as np

from rbc1000.alerts.alert import Cutouts, DecodeError
from rbc1000.alerts.fits import read_stamp
from rbc1000.reasons import Reason

PP_V1 = "rbc-pp-1"
PP_V2 = "rbc-pp-2"
PREPROCESSING_VERSIONS = (PP_V1, PP_V2)
PREPROCESSING_VERSION = PP_V2  # what new models are trained and exported with
SENTINEL_ABS = 1e30  # rbc-pp-2: pixel values at least this large are mask markers, not flux
STAMP_SIZE = 63
TRIPLET_SHAPE = (3, STAMP_SIZE, STAMP_SIZE)
_MAD_TO_SIGMA = 1.4826
_MIN_STAT_PIXELS = 64
_CHANNELS = ("science", "reference", "difference")


def center_to_size(stamp: np.ndarray, size: int = STAMP_SIZE, out: np.ndarray | None = None) -> np.ndarray:
    """Centred crop or NaN-pad of a 2-D stamp to `size` x `size` (float32, written into `out`)."""
    if stamp.ndim != 2 or 0 in stamp.shape:
        raise DecodeError(Reason.BAD_STAMP_SHAPE, f"stamp shape {stamp.shape} is not a 2-D image")
    if out is None:
        out = np.empty((size, size), dtype=np.float32)
    h, w = stamp.shape
    if h != size or w != size:
        out.fill(np.nan)
    src_y, dst_y, n_y = _centred_span(h, size)
    src_x, dst_x, n_x = _centred_span(w, size)
    out[dst_y : dst_y + n_y, dst_x : dst_x + n_x] = stamp[src_y : src_y + n_y, src_x : src_x + n_x]
    return out


def _centred_span(n: int, size: int) -> tuple[int, int, int]:
    """(source start, destination start, length) aligning the centres of n and size pixels."""
    if n >= size:
        return (n - size) // 2, 0, size
    return 0, (size - n) // 2, n


def check_version(version: str) -> str:
    """`version` itself when this code implements it, else a ValueError naming those it does."""
    if version not in PREPROCESSING_VERSIONS:
        raise ValueError(
            f"unknown preprocessing version {version!r}; known: {', '.join(PREPROCESSING_VERSIONS)}"
        )
    return version


def make_triplet(
    science: np.ndarray, reference: np.ndarray, difference: np.ndarray, *, version: str = PP_V1
) -> np.ndarray:
    """Preprocess three stamps into the model input: float32 `[3, 63, 63]`, all finite.

    `version` is the model's preprocessing version (see the module docstring).
    """
    check_version(version)
    triplet = np.empty(TRIPLET_SHAPE, dtype=np.float32)
    for channel, stamp in enumerate((science, reference, difference)):
        center_to_size(np.asarray(stamp, dtype=np.float32), out=triplet[channel])
    if version != PP_V1:
        with np.errstate(invalid="ignore"):
            triplet[np.abs(triplet) >= SENTINEL_ABS] = np.nan
    finite = np.isfinite(triplet)
    if finite.all():
        median, scale = _location_scale_all_finite(triplet)
    else:
        median, scale = np.empty((3, 1, 1), np.float32), np.empty((3, 1, 1), np.float32)
        for c in range(3):
            if not finite[c].any():
                raise DecodeError(Reason.EMPTY_STAMP, f"{_CHANNELS[c]} stamp has no finite pixel")
            median[c], scale[c] = _robust_location_scale(triplet[c], finite[c])
    np.subtract(triplet, median, out=triplet)
    np.divide(triplet, scale, out=triplet)
    np.arcsinh(triplet, out=triplet)
    triplet[~finite] = 0.0
    return triplet


def normalise_stamp(stamp: np.ndarray, version: str = PP_V1) -> np.ndarray:
    """Robust standardisation plus arcsinh of one 2-D stamp, as `make_triplet` does per channel."""
    check_version(version)
    if version != PP_V1:
        with np.errstate(invalid="ignore"):
            stamp = np.where(np.abs(stamp) >= SENTINEL_ABS, np.float32(np.nan), stamp)
    finite = np.isfinite(stamp)
    if not finite.any():
        raise DecodeError(Reason.EMPTY_STAMP, "stamp has no finite pixel")
    median, scale = _robust_location_scale(stamp, finite)
    out: np.ndarray = np.arcsinh((stamp - np.float32(median)) / np.float32(scale), dtype=np.float32)
    out[~finite] = 0.0
    return out


def _robust_location_scale(stamp: np.ndarray, finite: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based sigma of the finite pixels.

    The statistics use every other pixel on both axes (a quarter of a 63 x 63 stamp, about
    1,000 pixels: the estimate is within a few percent of the full one), which halves the
    cost of preprocessing; all pixels are used when the subsample has too few finite ones.
    """
    values = stamp[::2, ::2][finite[::2, ::2]]
    if values.size < _MIN_STAT_PIXELS:
        values = stamp[finite]
    median = float(np.median(values))
    scale = _MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
    if not scale > 0:
        scale = float(values.std())
    return median, scale if scale > 0 else 1.0


def _location_scale_all_finite(triplet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_robust_location_scale` for three all-finite stamps at once (the common case)."""
    values = triplet[:, ::2, ::2].reshape(3, -1)
    median = _row_medians(values)
    scale = _MAD_TO_SIGMA * _row_medians(np.abs(values - median))
    for c in range(3):
        if not scale[c, 0] > 0:
            scale[c, 0] = values[c].std() or 1.0
    return median.reshape(3, 1, 1), scale.reshape(3, 1, 1).astype(np.float32)


def _row_medians(values: np.ndarray) -> np.ndarray:
    """Per-row medians, as np.median(axis=1, keepdims=True) computes them, at a quarter of its cost."""
    k = values.shape[1] // 2
    if values.shape[1] % 2:
        return np.partition(values, k, axis=1)[:, k : k + 1]
    part = np.partition(values, (k - 1, k), axis=1)
    return (part[:, k - 1 : k] + part[:, k : k + 1]) / 2


def preprocess(stamps: tuple[np.ndarray, np.ndarray, np.ndarray], version: str) -> np.ndarray:
    """The implementation of `version` applied to (science, reference, difference)."""
    return make_triplet(*stamps, version=version)


def triplet_from_cutouts(cutouts: Cutouts, version: str = PP_V1) -> np.ndarray:
    """Read an alert's three FITS stamps and preprocess them (DecodeError when missing or bad)."""
    stamps = (
        ("science", cutouts.science),
        ("template", cutouts.template),
        ("difference", cutouts.difference),
    )
    missing = [name for name, stamp in stamps if stamp is None]
    if missing:
        raise DecodeError(Reason.MISSING_CUTOUTS, f"alert has no {', '.join(missing)} cutout")
    sci, ref, diff = (read_stamp(stamp) for _, stamp in stamps if stamp is not None)
    return make_triplet(sci, ref, diff, version=version)
