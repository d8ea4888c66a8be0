"""What the simulator paints into a real background: point spread functions and artefacts.

Every painter takes a `Scene` (one augmented real background: science, reference and
difference stamps in their own flux units, with the noise of each) and a seeded numpy
Generator, and returns new (science, reference, difference) stamps. The difference stamp
is in science units (ZTF subtracts the PSF-matched, scaled reference), so whatever is
added to the science stamp and not to the reference model appears in the difference too.

The registries of families the simulator draws from, these and the v2 ones, live in
`rbc1000.train.data.simulate_artefacts`; masks are added afterwards by
`rbc1000.train.data.simulate_masks`, for both classes alike.

Amplitudes are drawn in units of the difference-image noise `sigma` so that one set of
knobs (`Difficulty`) controls how hard the set is, whatever the background.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rbc1000.model.preprocessing import STAMP_SIZE

CENTRE = (STAMP_SIZE - 1) / 2
_YY, _XX = np.mgrid[0:STAMP_SIZE, 0:STAMP_SIZE].astype(np.float32)
Stamps = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Scene:
    """One augmented background: transient removed, stamps 63 x 63 float32 (NaN allowed)."""

    science: np.ndarray
    reference: np.ndarray
    difference: np.ndarray
    fwhm: float  # pixels, the alert's own `fwhm`, clipped to a physical range
    sigma: float  # robust noise of the difference stamp (science units)
    sigma_ref: float  # robust noise of the reference stamp (reference units)


@dataclass(frozen=True)
class Difficulty:
    """The knobs that make the set easy or hard; tuned against a small CNN (see the card)."""

    snr_min: float = 6.0  # real transients: S/N of the optimal PSF flux, log-uniform
    snr_max: float = 100.0
    artefact_min: float = 5.0  # bogus: peak of the artefact in the difference, in sigma
    artefact_max: float = 60.0
    sharp_fwhm_max: float = 0.45  # cosmic rays: at most this fraction of the PSF FWHM
    mismatch_min: float = 0.15  # |1 - FWHM ratio| of a PSF-mismatched subtraction
    mismatch_max: float = 0.35
    dipole_shift_max: float = 1.2  # pixels of misregistration
    ref_depth: tuple[float, float] = (1.5, 3.5)  # reference S/N gain over the science stamp
    # The difference stamp of a negative candidate (fading source, artefact in the reference):
    # "flipped" as ZTF publishes it (positive at the centre), or "signed" as a raw subtraction
    # shows it (negative: simulator v2's stamps; Rubin's cutouts are signed too).
    negative_difference: Literal["flipped", "signed"] = "flipped"


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A draw spread evenly in log between lo and hi (faint sources dominate, as in surveys)."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def psf(fwhm: float, cy: float, cx: float, beta: float | None = None) -> np.ndarray:
    """Unit-flux PSF at (cy, cx): Gaussian when beta is None, else Moffat of index beta."""
    r2: np.ndarray = (_YY - np.float32(cy)) ** 2 + (_XX - np.float32(cx)) ** 2
    if beta is None:
        s2 = (fwhm / 2.3548) ** 2
        return (np.exp(-r2 / (2 * s2)) / (2 * np.pi * s2)).astype(np.float32)
    alpha2 = (fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))) ** 2
    moffat: np.ndarray = ((beta - 1) / (np.pi * alpha2) * (1 + r2 / alpha2) ** -beta).astype(np.float32)
    return moffat


def draw_psf(rng: np.random.Generator, fwhm: float, dy: float = 0.0, dx: float = 0.0) -> np.ndarray:
    """A PSF near the centre with sub-pixel jitter; half Gaussian, half Moffat (beta 2.5-4.5)."""
    beta = None if rng.random() < 0.5 else float(rng.uniform(2.5, 4.5))
    cy, cx = CENTRE + dy + rng.uniform(-0.5, 0.5), CENTRE + dx + rng.uniform(-0.5, 0.5)
    return psf(fwhm, cy, cx, beta)


def flux_for_snr(unit_psf: np.ndarray, snr: float, sigma: float) -> float:
    """Flux whose optimal (PSF-weighted) measurement has signal-to-noise `snr` on noise sigma."""
    return float(snr * sigma / np.sqrt(np.sum(unit_psf.astype(np.float64) ** 2)))


def _ref_flux(scene: Scene, rng: np.random.Generator, d: Difficulty, flux: float) -> float:
    """The reference-stamp flux of a source of science flux `flux` (same S/N times the depth)."""
    return flux / scene.sigma * scene.sigma_ref * rng.uniform(*d.ref_depth)


def _copy(scene: Scene) -> Stamps:
    return scene.science.copy(), scene.reference.copy(), scene.difference.copy()


# ---- real ---------------------------------------------------------------------------------


def real_point_source(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A new point source at the centre: in science and difference, absent from the reference."""
    sci, ref, diff = _copy(scene)
    unit = draw_psf(rng, scene.fwhm)
    signal = flux_for_snr(unit, log_uniform(rng, d.snr_min, d.snr_max), scene.sigma) * unit
    return sci + signal, ref, diff + signal


def real_variable_star(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A star already in the reference that brightened; a small PSF mismatch is left too."""
    sci, ref, diff = _copy(scene)
    unit = draw_psf(rng, scene.fwhm)
    base = flux_for_snr(unit, log_uniform(rng, 10.0, 100.0), scene.sigma)
    rise = flux_for_snr(unit, log_uniform(rng, 1.5 * d.snr_min, d.snr_max), scene.sigma)
    ratio = 1 + rng.uniform(-0.01, 0.01)
    model_ref = base * psf(scene.fwhm * ratio, CENTRE, CENTRE)
    ref += _ref_flux(scene, rng, d, base) * psf(scene.fwhm * ratio, CENTRE, CENTRE)
    sci += (base + rise) * unit
    diff += (base + rise) * unit - model_ref
    return sci, ref, diff


# ---- bogus --------------------------------------------------------------------------------


def _peak_scale(residual: np.ndarray, peak_sigma: float, sigma: float) -> float:
    peak = float(np.max(np.abs(residual)))
    return peak_sigma * sigma / peak if peak > 0 else 0.0


def cosmic_ray(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A cosmic-ray hit: a sub-PSF blob, a short track or a pixel cluster, in science only."""
    sci, ref, diff = _copy(scene)
    kind = rng.integers(3)
    cy, cx = CENTRE + rng.uniform(-1, 1), CENTRE + rng.uniform(-1, 1)
    if kind == 0:
        hit = psf(scene.fwhm * rng.uniform(0.2, d.sharp_fwhm_max), cy, cx)
    elif kind == 1:
        hit = _track(rng, cy, cx, length=rng.uniform(3, 14))
    else:
        hit = np.zeros_like(sci)
        for _ in range(rng.integers(2, 6)):
            hit[round(cy) + rng.integers(-1, 2), round(cx) + rng.integers(-1, 2)] += rng.uniform(0.3, 1.0)
    hit *= _peak_scale(hit, log_uniform(rng, d.artefact_min, d.artefact_max), scene.sigma)
    return sci + hit, ref, diff + hit


def _track(rng: np.random.Generator, cy: float, cx: float, length: float) -> np.ndarray:
    """A one-pixel-wide straight track through (cy, cx), brightness varying along it."""
    track = np.zeros((STAMP_SIZE, STAMP_SIZE), dtype=np.float32)
    angle = rng.uniform(0, np.pi)
    for t in np.linspace(-length / 2, length / 2, int(length * 2) + 1):
        y, x = round(cy + t * np.sin(angle)), round(cx + t * np.cos(angle))
        if 0 <= y < STAMP_SIZE and 0 <= x < STAMP_SIZE:
            track[y, x] = max(track[y, x], rng.uniform(0.4, 1.0))
    return track


def hot_pixel(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """One or two hot pixels next to the centre, in science and difference."""
    sci, ref, diff = _copy(scene)
    hit = np.zeros_like(sci)
    y, x = int(CENTRE) + rng.integers(-1, 2), int(CENTRE) + rng.integers(-1, 2)
    hit[y, x] = 1.0
    if rng.random() < 0.3:
        hit[y + rng.integers(-1, 2), x + rng.integers(-1, 2)] += rng.uniform(0.2, 0.8)
    hit *= log_uniform(rng, d.artefact_min, d.artefact_max * 3) * scene.sigma
    return sci + hit, ref, diff + hit


def bad_line(scene: Scene, rng: np.random.Generator, d: Difficulty, axis: int) -> Stamps:
    """A bad column (axis 1) or row (axis 0) near the centre, hot or dead, whole or partial."""
    sci, ref, diff = _copy(scene)
    line = np.zeros_like(sci)
    pos = int(CENTRE) + rng.integers(-2, 3)
    start, stop = (
        (0, STAMP_SIZE)
        if rng.random() < 0.5
        else (int(rng.integers(0, int(CENTRE) - 2)), int(rng.integers(int(CENTRE) + 3, STAMP_SIZE + 1)))
    )
    profile = rng.uniform(0.6, 1.0, stop - start) * (1 if rng.random() < 0.75 else -1)
    if axis == 1:
        line[start:stop, pos] = profile
    else:
        line[pos, start:stop] = profile
    line *= log_uniform(rng, d.artefact_min * 0.6, d.artefact_max / 3) * scene.sigma
    return sci + line, ref, diff + line


def _star_in_both(
    scene: Scene,
    rng: np.random.Generator,
    d: Difficulty,
    flux: float,
    sci_psf: np.ndarray,
    ref_psf: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Science and reference stamps with a star of science flux `flux` added."""
    return (scene.science + flux * sci_psf, scene.reference + _ref_flux(scene, rng, d, flux) * ref_psf)


def dipole(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A misregistered subtraction of a star: positive and negative lobes side by side."""
    angle, shift = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, d.dipole_shift_max)
    beta = None if rng.random() < 0.5 else float(rng.uniform(2.5, 4.5))
    here = psf(scene.fwhm, CENTRE, CENTRE, beta)
    there = psf(scene.fwhm, CENTRE + shift * np.sin(angle), CENTRE + shift * np.cos(angle), beta)
    flux = _peak_scale(there - here, log_uniform(rng, d.artefact_min, d.artefact_max), scene.sigma)
    sci, ref = _star_in_both(scene, rng, d, flux, there, here)
    return sci, ref, scene.difference + flux * (there - here)


def psf_mismatch(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A star subtracted with the wrong PSF width or flux scale: a ring or a crater residual."""
    ratio = 1 + rng.choice([-1, 1]) * rng.uniform(d.mismatch_min, d.mismatch_max)
    scale = 1 + rng.uniform(-0.03, 0.03)
    sci_psf = psf(scene.fwhm, CENTRE, CENTRE)
    ref_psf = psf(scene.fwhm * ratio, CENTRE, CENTRE)
    residual = sci_psf - scale * ref_psf
    flux = _peak_scale(residual, log_uniform(rng, d.artefact_min, d.artefact_max), scene.sigma)
    sci, ref = _star_in_both(scene, rng, d, flux, sci_psf, ref_psf)
    return sci, ref, scene.difference + flux * residual


def saturated_star(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A star past saturation (flat core, maybe a bleed trail) minus an unsaturated model."""
    unit = psf(scene.fwhm, CENTRE + rng.uniform(-1, 1), CENTRE + rng.uniform(-1, 1))
    sky = float(np.nanmedian(scene.science))
    ceiling = rng.uniform(100, 1000) * scene.sigma
    flux = ceiling / float(unit.max()) * rng.uniform(1.5, 30)
    star = flux * unit
    sci = np.minimum(scene.science + star, sky + ceiling)
    if rng.random() < 0.6:  # charge bleeds along the readout column
        col, half = round(CENTRE), int(rng.integers(3, 25))
        sci[max(0, int(CENTRE) - half) : int(CENTRE) + half, col] = sky + ceiling
    ref = scene.reference + _ref_flux(scene, rng, d, flux) * psf(scene.fwhm, CENTRE, CENTRE)
    model = flux * (1 + rng.uniform(-0.05, 0.05)) * unit
    diff = scene.difference + (sci - scene.science) - model
    return sci.astype(np.float32), ref, diff.astype(np.float32)


def edge_mask(rng: np.random.Generator, near: float, far: float) -> tuple[np.ndarray, np.ndarray]:
    """Off-CCD mask on one random side, its edge `near`..`far` pixels from the centre."""
    distance = rng.uniform(near, far)
    coord = (_YY, _XX)[rng.integers(2)] - CENTRE
    sign = rng.choice([-1, 1])
    beyond = sign * coord  # pixels past the CCD edge have beyond > distance
    return beyond > distance, np.clip(distance - beyond, 0, None)


Painter = Callable[[Scene, np.random.Generator, Difficulty], Stamps]
