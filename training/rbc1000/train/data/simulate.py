"""The simulator: labelled triplets built from the real stamps of an alert corpus.

Recipe (pure functions; every random draw comes from a numpy Generator seeded by
(seed, class, sample index), so the same seed gives the same bytes):

1. Backgrounds. Every alert with three 63 x 63 stamps and a real-looking candidate
   (drb >= 0.5 when ZTF's drb is set, else rb >= 0.5) gives one background: its own
   transient is removed by copying a patch of the difference stamp's own noise (from 16-20
   pixels away) over the central disc, and the science stamp keeps `science - difference +
   patch`, i.e. the PSF-matched sky model plus real noise. Reference stamps are kept as is.
2. Augmentation. A dihedral transform (8) and a shift of up to `max_shift` pixels (reflected
   border) of all three stamps multiply each background.
3. Painting (rbc1000.train.data.simulate_families). Real: a point source at the alert's own PSF width
   (`fwhm`, pixels; Gaussian or Moffat) at S/N from `snr_min`, on a blank sky, on a host
   (backgrounds with a source in the reference at the centre), on a brightening star, or
   fading. Bogus: cosmic rays, hot pixels, bad columns and rows, dipoles, PSF-mismatch
   residuals of stars and of galaxy nuclei, saturated stars, edge glow, satellite and aircraft
   streaks, optical ghosts, bright-star halos and diffraction spikes, crosstalk echoes,
   artefacts in the reference image and detections at threshold with nothing there
   (rbc1000.train.data.simulate_artefacts). Fading sources and artefacts in the reference are
   negative candidates: their difference stamp is sign-flipped as ZTF publishes it, unless
   `negative_difference` is "signed" (simulator v2).
3b. Masks (rbc1000.train.data.simulate_masks). CCD edges, masked regions and reference-only
   masks (NaN, or the float32-minimum sentinel some ZTF references use) are drawn after
   painting from one distribution for both classes, so masks carry no label information.
4. Proxy samples. Real alerts with drb >= `proxy_real_drb` join as real and those with
   drb <= `proxy_bogus_drb` as bogus, unaugmented and marked proxy=True (ZTF's score, not a
   human's label).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from rbc1000.model.preprocessing import STAMP_SIZE, center_to_size
from rbc1000.train.data.simulate_artefacts import BOGUS_FAMILIES, REAL_FAMILIES, REAL_MIX
from rbc1000.train.data.simulate_families import CENTRE, Difficulty, Scene
from rbc1000.train.data.simulate_masks import MaskConfig, apply_mask

FWHM_RANGE = (1.5, 6.0)  # pixels; ZTF `fwhm` below 1.5 px comes from noise or artefacts
HOST_FAMILIES = ("on_host", "nucleus_residual")  # drawn on backgrounds with a host at the centre
_MAD = 1.4826


@dataclass(frozen=True)
class SourceAlert:
    """The parts of a decoded alert the simulator needs (stamps already read from FITS)."""

    alert_id: int
    path: str
    science: np.ndarray
    reference: np.ndarray
    difference: np.ndarray
    fwhm: float | None
    drb: float | None  # None unless drbversion is set
    rb: float | None


@dataclass(frozen=True)
class Background:
    """A real sky without its transient; `host` when the reference has a source at the centre."""

    alert_id: int
    scene: Scene
    host: bool


@dataclass(frozen=True)
class SimulationConfig:
    n_real: int = 13000
    n_bogus: int = 30000
    seed: int = 0
    max_shift: int = 4
    proxy_real_drb: float = 0.99
    proxy_bogus_drb: float = 0.1
    max_proxy_real: int | None = None  # None: every alert that qualifies
    max_proxy_bogus: int | None = None
    difficulty: Difficulty = field(default_factory=Difficulty)
    masks: MaskConfig = field(default_factory=MaskConfig)


@dataclass(frozen=True)
class Sample:
    stamp: np.ndarray  # float32 [63, 63, 3]: science, reference, difference
    label: int
    sample_id: str
    family: str
    proxy: bool


def robust_sigma(stamp: np.ndarray) -> float:
    """1.4826 x MAD of the finite pixels (1.0 for a flat or empty stamp)."""
    values = stamp[np.isfinite(stamp)]
    if values.size == 0:
        return 1.0
    sigma = _MAD * float(np.median(np.abs(values - np.median(values))))
    return sigma if sigma > 0 else 1.0


def usable_as_background(alert: SourceAlert) -> bool:
    """Full-size stamps, mostly finite, and a candidate ZTF itself thought real."""
    stamps = (alert.science, alert.reference, alert.difference)
    if any(s.shape != (STAMP_SIZE, STAMP_SIZE) for s in stamps):
        return False
    if any(np.isfinite(s).mean() < 0.8 for s in stamps):
        return False
    score = alert.drb if alert.drb is not None else alert.rb
    return score is not None and score >= 0.5


def remove_transient(alert: SourceAlert) -> Background:
    """Replace the central disc of the difference by the stamp's own noise from elsewhere."""
    fwhm = float(np.clip(alert.fwhm or 2.0, *FWHM_RANGE))
    yy, xx = np.mgrid[0:STAMP_SIZE, 0:STAMP_SIZE]
    radius = float(np.clip(2.5 * fwhm, 5, 10))
    disc = (yy - CENTRE) ** 2 + (xx - CENTRE) ** 2 <= radius**2
    diff = alert.difference.astype(np.float32)
    sigma = robust_sigma(diff)
    patch = _quietest_patch(diff, disc, sigma)
    clean = diff.copy()
    clean[disc] = patch
    science = alert.science.astype(np.float32) - diff + clean
    reference = alert.reference.astype(np.float32)
    sigma_ref = robust_sigma(reference)
    excess = (
        np.nansum(reference[disc & ((yy - CENTRE) ** 2 + (xx - CENTRE) ** 2 <= 25)] - np.nanmedian(reference))
        / sigma_ref
    )
    scene = Scene(science, reference, clean, fwhm, robust_sigma(clean), sigma_ref)
    return Background(alert.alert_id, scene, host=bool(excess > 100))


def _quietest_patch(diff: np.ndarray, disc: np.ndarray, sigma: float) -> np.ndarray:
    """Pixels of `diff` under `disc` moved 16-20 px away: the finite patch with least signal."""
    best: np.ndarray | None = None
    best_score = np.inf
    for dy, dx in ((20, 0), (-20, 0), (0, 20), (0, -20), (16, 16), (-16, 16), (16, -16), (-16, -16)):
        patch = np.roll(diff, (dy, dx), axis=(0, 1))[disc]
        score = float(np.max(np.abs(patch))) / sigma if np.isfinite(patch).all() else np.inf
        if score < best_score:
            best, best_score = patch, score
    return best if best is not None else np.roll(diff, (20, 0), axis=(0, 1))[disc]


def augment(scene: Scene, rng: np.random.Generator, max_shift: int) -> Scene:
    """A random dihedral transform and shift (reflected border) of all three stamps alike."""
    k, flip = int(rng.integers(4)), bool(rng.integers(2))
    dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))

    def move(stamp: np.ndarray) -> np.ndarray:
        out = np.rot90(stamp, k)
        out = out[:, ::-1] if flip else out
        if max_shift:
            out = np.pad(out, max_shift, mode="reflect")
            out = out[
                max_shift + dy : max_shift + dy + STAMP_SIZE, max_shift + dx : max_shift + dx + STAMP_SIZE
            ]
        return np.ascontiguousarray(out, dtype=np.float32)

    return Scene(
        move(scene.science),
        move(scene.reference),
        move(scene.difference),
        scene.fwhm,
        scene.sigma,
        scene.sigma_ref,
    )


def family_plan(n: int, mix: dict[str, float], rng: np.random.Generator) -> list[str]:
    """`n` family names in the proportions of `mix` (largest remainders), seeded order."""
    names = list(mix)
    weights = np.array([mix[k] for k in names], dtype=float)
    exact = weights / weights.sum() * n
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    plan = [name for name, c in zip(names, counts, strict=True) for _ in range(c)]
    return [plan[i] for i in rng.permutation(len(plan))]


def proxy_samples(
    alerts: Iterable[SourceAlert],
    config: SimulationConfig,
) -> tuple[list[Sample], list[Sample]]:
    """Real alerts labelled by ZTF's drb (proxy), in alert-id order, unaugmented."""
    real, bogus = [], []
    for alert in sorted(alerts, key=lambda a: a.alert_id):
        if alert.drb is None:
            continue
        stamp = np.stack(
            [center_to_size(s) for s in (alert.science, alert.reference, alert.difference)], axis=-1
        )
        if alert.drb >= config.proxy_real_drb:
            real.append(Sample(stamp, 1, f"ztf:{alert.alert_id}", "alert_drb_real", True))
        elif alert.drb <= config.proxy_bogus_drb:
            bogus.append(Sample(stamp, 0, f"ztf:{alert.alert_id}", "alert_drb_bogus", True))
    if config.max_proxy_real is not None:
        real = real[: config.max_proxy_real]
    if config.max_proxy_bogus is not None:
        bogus = bogus[: config.max_proxy_bogus]
    return real, bogus


def paint(
    background: Background, family: str, label: int, rng: np.random.Generator, config: SimulationConfig
) -> np.ndarray:
    """One simulated stamp [63, 63, 3] of `family` on an augmented copy of `background`."""
    scene = augment(background.scene, rng, config.max_shift)
    painter = (REAL_FAMILIES if label else BOGUS_FAMILIES)[family]
    stamps = painter(scene, rng, config.difficulty)
    mask_rng = np.random.default_rng([config.seed, 7, int(rng.integers(2**62))])  # label-blind stream
    sci, ref, diff = apply_mask(stamps, mask_rng, config.masks)
    return np.stack([sci, ref, diff], axis=-1).astype(np.float32)


def iter_simulated(
    backgrounds: list[Background], n: int, label: int, config: SimulationConfig, progress: bool = False
) -> Iterator[Sample]:
    """`n` painted samples of one class, families in fixed proportions, ids `sim<seed>-<cls>-<i>`.

    Sample i depends only on (seed, class, i) and the backgrounds, so any prefix of the
    stream is reproducible on its own.
    """
    if n <= 0:
        return
    if not backgrounds:
        raise ValueError("no usable background alert: need 63x63 stamps with drb or rb >= 0.5")
    mix = REAL_MIX if label else dict.fromkeys(BOGUS_FAMILIES, 1.0)
    plan = family_plan(n, mix, np.random.default_rng([config.seed, label, 2**31]))
    hosts = [b for b in backgrounds if b.host] or backgrounds
    tag = "real" if label else "bogus"
    for i, family in enumerate(_maybe_tqdm(plan, progress, f"simulating {tag}")):
        rng = np.random.default_rng([config.seed, label, i])
        pool = hosts if family in HOST_FAMILIES else backgrounds
        background = pool[int(rng.integers(len(pool)))]
        stamp = paint(background, family, label, rng, config)
        yield Sample(stamp, label, f"sim{config.seed}-{tag}-{i:06d}", family, False)


def _maybe_tqdm(items: list[str], progress: bool, desc: str) -> Iterable[str]:
    if not progress:
        return items
    from tqdm import tqdm

    bar: Iterable[str] = tqdm(items, desc=desc, unit="sample")
    return bar


def prepare(
    alerts: list[SourceAlert],
    config: SimulationConfig,
) -> tuple[list[Sample], list[Sample], list[Background]]:
    """(proxy real, proxy bogus, backgrounds): everything the simulation draws from.

    Proxy samples count towards n_real / n_bogus; beyond that the lowest alert ids are kept.
    """
    alerts = list({a.alert_id: a for a in reversed(alerts)}.values())  # first copy of an id wins
    proxy_real, proxy_bogus = proxy_samples(alerts, config)
    backgrounds = [
        remove_transient(a) for a in sorted(alerts, key=lambda a: a.alert_id) if usable_as_background(a)
    ]
    return proxy_real[: config.n_real], proxy_bogus[: config.n_bogus], backgrounds


def simulate(
    alerts: list[SourceAlert],
    config: SimulationConfig,
    progress: bool = False,
) -> tuple[list[Sample], list[Sample], list[Background]]:
    """(real samples, bogus samples, backgrounds): proxy alerts first, then simulated ones."""
    proxy_real, proxy_bogus, backgrounds = prepare(alerts, config)
    real = proxy_real + list(
        iter_simulated(backgrounds, config.n_real - len(proxy_real), 1, config, progress)
    )
    bogus = proxy_bogus + list(
        iter_simulated(backgrounds, config.n_bogus - len(proxy_bogus), 0, config, progress)
    )
    return real, bogus, backgrounds
