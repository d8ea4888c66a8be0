"""Simulator v2 families: streaks, ghosts, halos and spikes, crosstalk, reference artefacts,
galaxy-nucleus residuals, detections at threshold with nothing there, and fading reals.

Same conventions as `rbc1000.train.data.simulate_families` (a painter takes a `Scene`, a
seeded Generator and the `Difficulty` knobs and returns new science, reference and difference
stamps); `REAL_FAMILIES` and `BOGUS_FAMILIES` here are the registries the simulator draws from.

Whatever is added to the reference and not to the science is negative in ZTF's subtraction,
and ZTF detects it as a negative candidate (`isdiffpos = 'f'`). ZTF publishes the difference
cutout of such a candidate sign-flipped, reference minus science, so that the candidate is
positive at the centre: in `../shared/data` the centre of the difference stamp is positive in
1,036 of the 1,040 ZTF alerts, and in all 210 drb-real alerts with `isdiffpos = 'f'`. The
families whose candidate is negative (fading reals, artefacts in the reference) therefore
return the difference as ZTF publishes it (`_as_published_negative`), unless
`Difficulty.negative_difference` is "signed" (simulator v2's stamps; Rubin's cutouts are
signed). A ZTF model that learned negative differences would meet none in ZTF's stream.
"""

from __future__ import annotations

import numpy as np

from rbc1000.model.preprocessing import STAMP_SIZE
from rbc1000.train.data.simulate_families import (
    CENTRE,
    Difficulty,
    Painter,
    Scene,
    Stamps,
    bad_line,
    cosmic_ray,
    dipole,
    draw_psf,
    flux_for_snr,
    hot_pixel,
    log_uniform,
    psf,
    psf_mismatch,
    real_point_source,
    real_variable_star,
    saturated_star,
)

_YY, _XX = np.mgrid[0:STAMP_SIZE, 0:STAMP_SIZE].astype(np.float32)


def _copy(scene: Scene) -> Stamps:
    return scene.science.copy(), scene.reference.copy(), scene.difference.copy()


def _as_published_negative(difference: np.ndarray, d: Difficulty) -> np.ndarray:
    """The difference stamp of a negative candidate as ZTF publishes it, sign-flipped, unless
    `d.negative_difference` asks for the signed stamp."""
    published: np.ndarray = -difference if d.negative_difference == "flipped" else difference
    return published


def _ref_scale(scene: Scene) -> float:
    """Reference units per science unit at equal S/N (the reference is deeper: see ref_depth)."""
    return scene.sigma_ref / scene.sigma if scene.sigma > 0 else 1.0


# ---- real ---------------------------------------------------------------------------------


def real_fading(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A source in the reference that faded or vanished: a negative candidate, whose
    difference ZTF publishes sign-flipped (positive at the centre)."""
    sci, ref, diff = _copy(scene)
    unit = draw_psf(rng, scene.fwhm)
    drop = flux_for_snr(unit, log_uniform(rng, d.snr_min, d.snr_max), scene.sigma)
    left = drop * rng.uniform(0.0, 1.5)  # what is still in the science stamp
    ref += (left + drop) * _ref_scale(scene) * rng.uniform(*d.ref_depth) * unit
    sci += left * unit
    diff -= drop * unit
    return sci, ref, _as_published_negative(diff, d)


# ---- bogus --------------------------------------------------------------------------------


def streak(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A satellite or aircraft trail across the stamp, near the centre, in science only.

    Aircraft trails come as two parallel lines (navigation lights) or dashes (blinking).
    """
    sci, ref, diff = _copy(scene)
    angle, offset = rng.uniform(0, np.pi), rng.uniform(-3, 3)
    across = (_XX - CENTRE) * np.sin(angle) - (_YY - CENTRE) * np.cos(angle) - offset
    along = (_XX - CENTRE) * np.cos(angle) + (_YY - CENTRE) * np.sin(angle)
    width = scene.fwhm / 2.3548 * rng.uniform(0.7, 1.5)
    trail = np.exp(-(across**2) / (2 * width**2))
    kind = rng.integers(3)
    if kind == 1:
        gap = rng.uniform(3, 7)
        trail = trail + np.exp(-((across - gap) ** 2) / (2 * width**2))
    elif kind == 2:
        period = rng.uniform(6, 16)
        trail = trail * (np.mod(along, period) < period * rng.uniform(0.3, 0.7))
    trail = trail.astype(np.float32) * log_uniform(rng, d.artefact_min, d.artefact_max) * scene.sigma
    return sci + trail, ref, diff + trail


def ghost(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """An optical ghost of a bright star: a large, soft disc or ring of light, science only."""
    sci, ref, diff = _copy(scene)
    cy, cx = CENTRE + rng.uniform(-6, 6, size=2)
    radius = rng.uniform(6, 22)
    r = np.hypot(_YY - cy, _XX - cx)
    edge = rng.uniform(1.0, 3.0)
    disc = 1 / (1 + np.exp((r - radius) / edge))
    if rng.random() < 0.5:  # a ring: the pupil's central obstruction
        disc = disc - 0.7 / (1 + np.exp((r - radius * rng.uniform(0.3, 0.6)) / edge))
    light = disc.astype(np.float32) * rng.uniform(0.5, 4.0) * scene.sigma
    return sci + light, ref, diff + light


def star_halo(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A bright star off the centre: its halo and diffraction spikes do not subtract cleanly."""
    sci, ref, diff = _copy(scene)
    distance, angle = rng.uniform(6, 25), rng.uniform(0, 2 * np.pi)
    sy, sx = CENTRE + distance * np.sin(angle), CENTRE + distance * np.cos(angle)
    r = np.hypot(_YY - sy, _XX - sx) + 1.0
    halo = (r / scene.fwhm) ** -rng.uniform(1.5, 2.5)
    spike_angle = rng.choice([0.0, np.pi / 4]) + rng.uniform(-0.05, 0.05)
    spikes = np.zeros_like(halo)
    for k in range(4):
        a = spike_angle + k * np.pi / 2
        along = (_XX - sx) * np.cos(a) + (_YY - sy) * np.sin(a)
        across = -(_XX - sx) * np.sin(a) + (_YY - sy) * np.cos(a)
        spikes += np.exp(-(across**2) / 0.8) * (np.clip(along, 0, None) + 1) ** -0.8 * (along > 0)
    image = (halo + rng.uniform(0.5, 2.0) * spikes).astype(np.float32)
    peak_here = float(image[int(CENTRE) - 2 : int(CENTRE) + 3, int(CENTRE) - 2 : int(CENTRE) + 3].max())
    flux = log_uniform(rng, d.artefact_min, d.artefact_max) * scene.sigma / max(peak_here, 1e-6)
    mismatch = 1 + rng.choice([-1, 1]) * rng.uniform(0.1, 0.4)  # halo/spikes change with seeing
    rotation = rng.uniform(-0.08, 0.08)  # the pupil turns between epochs
    ref_image = np.roll(image, round(rotation * 10), axis=1) * mismatch
    sci += flux * image
    ref += flux * _ref_scale(scene) * ref_image
    diff += flux * (image - ref_image)
    return sci, ref, diff


def crosstalk(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A crosstalk echo of a saturated star on another amplifier: flat-topped, sharp-edged,
    positive or negative, in science only (the reference was taken with other stars around)."""
    sci, ref, diff = _copy(scene)
    cy, cx = CENTRE + rng.uniform(-1, 1, size=2)
    r = np.hypot(_YY - cy, (_XX - cx) * rng.uniform(0.6, 1.0))
    core = (r <= rng.uniform(1.0, 3.0) * scene.fwhm / 2).astype(np.float32)
    if rng.random() < 0.5:  # bleed trail copied too
        bleed = (np.abs(_XX - cx) < 0.6) & (np.abs(_YY - cy) < rng.uniform(4, 15))
        core = np.maximum(core, bleed.astype(np.float32))
    sign = 1.0 if rng.random() < 0.6 else -1.0
    echo = sign * core * log_uniform(rng, d.artefact_min, d.artefact_max) * scene.sigma
    return sci + echo, ref, diff + echo


def reference_artefact(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A science-only artefact painted into the reference instead: a negative candidate,
    whose difference ZTF publishes sign-flipped."""
    painter = (cosmic_ray, hot_pixel, streak, crosstalk, _bad_column)[rng.integers(5)]
    sci, _, _ = painter(scene, rng, d)
    artefact = sci - scene.science
    ref = scene.reference + artefact * _ref_scale(scene)
    return scene.science.copy(), ref, _as_published_negative(scene.difference - artefact, d)


def nucleus_residual(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A galaxy nucleus subtracted with the wrong PSF width: a ring or crater at the core."""
    r2 = (_YY - CENTRE - rng.uniform(-0.5, 0.5)) ** 2 + (_XX - CENTRE - rng.uniform(-0.5, 0.5)) ** 2
    scale = rng.uniform(2.0, 6.0)  # exponential disc, pixels
    galaxy = np.exp(-np.sqrt(r2) / scale).astype(np.float32)
    galaxy /= galaxy.sum()
    ratio = 1 + rng.choice([-1, 1]) * rng.uniform(d.mismatch_min, d.mismatch_max)
    sci_img = _blur(galaxy, scene.fwhm)
    ref_img = _blur(galaxy, scene.fwhm * ratio) * (1 + rng.uniform(-0.03, 0.03))
    residual = sci_img - ref_img
    peak = float(np.abs(residual).max())
    flux = log_uniform(rng, d.artefact_min, d.artefact_max) * scene.sigma / peak if peak > 0 else 0.0
    sci = scene.science + flux * sci_img
    ref = scene.reference + flux * _ref_scale(scene) * rng.uniform(*d.ref_depth) * ref_img
    return sci, ref, scene.difference + flux * residual


def _blur(image: np.ndarray, fwhm: float) -> np.ndarray:
    """`image` convolved with a centred Gaussian PSF of `fwhm` (FFT, periodic edges)."""
    kernel = np.fft.ifftshift(psf(fwhm, CENTRE, CENTRE))
    out: np.ndarray = np.real(np.fft.ifft2(np.fft.fft2(image) * np.fft.fft2(kernel))).astype(np.float32)
    return out


def at_threshold(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """A detection at threshold with nothing there: the difference is noise, at most a bump of
    S/N below 3 (a noise peak the detector caught), and the science has nothing new either."""
    sci, ref, diff = _copy(scene)
    unit = draw_psf(rng, scene.fwhm)
    bump = flux_for_snr(unit, rng.uniform(0.0, 3.0), scene.sigma) * unit
    return sci + bump, ref, diff + bump


def _bad_column(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    return bad_line(scene, rng, d, axis=1)


def _bad_row(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    return bad_line(scene, rng, d, axis=0)


def edge_glow(scene: Scene, rng: np.random.Generator, d: Difficulty) -> Stamps:
    """Amplifier or CCD-edge glow rising towards one side, science only. Whether the stamp is
    also cut by the edge is left to the shared mask draw, as for every other family."""
    sci, ref, diff = _copy(scene)
    coord = (_YY, _XX)[rng.integers(2)] - CENTRE
    to_edge = np.clip(rng.uniform(2.0, 12.0) - rng.choice([-1, 1]) * coord, 0, None)
    glow = np.exp(-to_edge / rng.uniform(1.0, 4.0)).astype(np.float32)
    glow *= log_uniform(rng, d.artefact_min, d.artefact_max / 2) * scene.sigma
    return sci + glow, ref, diff + glow


REAL_FAMILIES: dict[str, Painter] = {
    "point_source": real_point_source,
    "on_host": real_point_source,  # same physics; the background has a host at the centre
    "variable_star": real_variable_star,
    "fading": real_fading,
}
REAL_MIX = {"point_source": 0.4, "on_host": 0.25, "variable_star": 0.15, "fading": 0.2}
BOGUS_FAMILIES: dict[str, Painter] = {
    "cosmic_ray": cosmic_ray,
    "hot_pixel": hot_pixel,
    "bad_column": _bad_column,
    "bad_row": _bad_row,
    "dipole": dipole,
    "psf_mismatch": psf_mismatch,
    "saturated_star": saturated_star,
    "edge_glow": edge_glow,
    "streak": streak,
    "ghost": ghost,
    "star_halo": star_halo,
    "crosstalk": crosstalk,
    "reference_artefact": reference_artefact,
    "nucleus_residual": nucleus_residual,
    "at_threshold": at_threshold,
}
