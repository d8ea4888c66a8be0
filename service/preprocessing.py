"""The one preprocessing function shared by training and serving.

`make_triplet` turns (science, reference, difference) stamps of any size into a float32
array `[3, 63, 63]`. Its behaviour is versioned by `PREPROCESSING_VERSION`, which is written
into every exported model and checked by the service at load time: change the maths here
and the version must change too, or deployed models will silently see other inputs.

rbc-pp-1, per stamp:
1. centred crop to 63 x 63, or centred pad with NaN (CCD-edge stamps, small Rubin stamps);
2. robust standardisation: subtract the median of the finite pixels and divide by the
   noise estimated as 1.4826 x MAD (falling back to the standard deviation, then to 1 for a
   flat stamp), so each stamp is in units of its own background noise;
3. arcsinh compression, which keeps faint signal linear (asinh(z) ~ z for |z| < 1) and keeps
   saturated stars within a few tens, so no single pixel dominates the network;
4. NaN and +-inf pixels (masked, off the CCD) become 0, the background level.
A stamp without a single finite pixel carries no information and is refused.
"""

from __future__ import annotations

import numpy as np

from service.alert import DecodeError

PREPROCESSING_VERSION = "rbc-pp-1"
STAMP_SIZE = 63
TRIPLET_SHAPE = (3, STAMP_SIZE, STAMP_SIZE)
_MAD_TO_SIGMA = 1.4826


def center_to_size(stamp: np.ndarray, size: int = STAMP_SIZE) -> np.ndarray:
    """Centred crop or NaN-pad of a 2-D stamp to `size` x `size` (float32 copy)."""
    if stamp.ndim != 2 or 0 in stamp.shape:
        raise DecodeError("bad_stamp_shape", f"stamp shape {stamp.shape} is not a 2-D image")
    out = np.full((size, size), np.nan, dtype=np.float32)
    h, w = stamp.shape
    src_y, dst_y, n_y = _centred_span(h, size)
    src_x, dst_x, n_x = _centred_span(w, size)
    out[dst_y : dst_y + n_y, dst_x : dst_x + n_x] = stamp[src_y : src_y + n_y, src_x : src_x + n_x]
    return out


def _centred_span(n: int, size: int) -> tuple[int, int, int]:
    """(source start, destination start, length) aligning the centres of n and size pixels."""
    if n >= size:
        return (n - size) // 2, 0, size
    return 0, (size - n) // 2, n


def normalise_stamp(stamp: np.ndarray) -> np.ndarray:
    """Robust per-stamp standardisation plus arcsinh; non-finite pixels become 0."""
    finite = np.isfinite(stamp)
    values = stamp[finite]
    if values.size == 0:
        raise DecodeError("empty_stamp", "stamp has no finite pixel")
    median = np.median(values)
    scale = _MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
    if not scale > 0:
        scale = float(values.std())
    if not scale > 0:
        scale = 1.0
    out = np.arcsinh((stamp - median) / np.float32(scale), dtype=np.float32)
    out[~finite] = 0.0
    return out


def make_triplet(science: np.ndarray, reference: np.ndarray, difference: np.ndarray) -> np.ndarray:
    """Preprocess three stamps into the model input: float32 `[3, 63, 63]`, all finite."""
    triplet = np.empty(TRIPLET_SHAPE, dtype=np.float32)
    for channel, stamp in enumerate((science, reference, difference)):
        triplet[channel] = normalise_stamp(center_to_size(np.asarray(stamp, dtype=np.float32)))
    return triplet
