"""The simulator: deterministic, balanced as asked, every family present, physics sane, and masks
that tell nothing about the label."""

from __future__ import annotations

import numpy as np
import pytest

from rbc1000.train.data.simulate import (
    SimulationConfig,
    SourceAlert,
    augment,
    family_plan,
    remove_transient,
    simulate,
)
from rbc1000.train.data.simulate_artefacts import (
    BOGUS_FAMILIES,
    REAL_MIX,
    real_fading,
    reference_artefact,
)
from rbc1000.train.data.simulate_families import (
    CENTRE,
    Difficulty,
    Scene,
    cosmic_ray,
    dipole,
    flux_for_snr,
    psf,
    real_point_source,
)
from rbc1000.train.data.simulate_masks import MASK_AUC_LIMIT, mask_feature_auc, mask_features


def _alert(i: int, drb: float, rng: np.random.Generator, transient: float = 400.0) -> SourceAlert:
    """Noise stamps with a few stars and a Gaussian transient at the centre."""
    sky = rng.normal(100, 5, size=(3, 63, 63)).astype(np.float32)
    star = 2000 * psf(2.5, 10 + i % 40, 50)
    sci, ref, diff = sky[0] + star, sky[1] + 2 * star, sky[2] - 100
    bump = transient * psf(2.5, CENTRE, CENTRE)
    return SourceAlert(1000 + i, f"fake{i}.avro", sci + bump, ref, diff + bump, 2.5, drb, 0.9)


@pytest.fixture(scope="module")
def alerts() -> list[SourceAlert]:
    rng = np.random.default_rng(1)
    drbs = [0.995] * 6 + [0.05] * 3 + [0.8] * 12
    return [_alert(i, d, rng) for i, d in enumerate(drbs)]


def test_counts_families_and_proxy_marks(alerts: list[SourceAlert]) -> None:
    config = SimulationConfig(n_real=60, n_bogus=120, seed=4)
    real, bogus, backgrounds = simulate(alerts, config)
    assert len(real) == 60 and len(bogus) == 120
    assert {s.family for s in real} == {"alert_drb_real", *REAL_MIX}
    assert {s.family for s in bogus} == {"alert_drb_bogus", *BOGUS_FAMILIES}
    for sample in real + bogus:
        assert sample.proxy == sample.family.startswith("alert_drb")
        assert sample.stamp.shape == (63, 63, 3) and sample.stamp.dtype == np.float32
    assert sum(s.proxy for s in real) == 6 and sum(s.proxy for s in bogus) == 3
    assert len({s.sample_id for s in real + bogus}) == 180
    assert len(backgrounds) == 18  # drb 0.05 alerts are never backgrounds


def _stamps(alerts: list[SourceAlert], config: SimulationConfig) -> np.ndarray:
    real, bogus, _ = simulate(alerts, config)
    return np.stack([s.stamp for s in [*real, *bogus]])


def test_same_seed_same_bytes_other_seed_differs(alerts: list[SourceAlert]) -> None:
    config = SimulationConfig(n_real=20, n_bogus=40, seed=7)
    a, b = _stamps(alerts, config), _stamps(alerts, config)
    assert a.tobytes() == b.tobytes()
    c = _stamps(alerts, SimulationConfig(n_real=20, n_bogus=40, seed=8))
    assert c.tobytes() != a.tobytes()


def test_family_plan_follows_the_mix() -> None:
    plan = family_plan(1000, REAL_MIX, np.random.default_rng(0))
    assert {f: plan.count(f) for f in REAL_MIX} == {
        "point_source": 400,
        "on_host": 250,
        "variable_star": 150,
        "fading": 200,
    }


def test_transient_is_removed_from_the_background(alerts: list[SourceAlert]) -> None:
    background = remove_transient(alerts[10])
    centre = background.scene.difference[28:35, 28:35]
    assert abs(float(centre.mean())) < 3 * background.scene.sigma / 7
    assert alerts[10].difference[31, 31] > 10 * background.scene.sigma


@pytest.mark.parametrize("beta", [None, 3.0])
def test_psf_has_unit_flux_and_the_asked_width(beta: float | None) -> None:
    image = psf(3.0, CENTRE, CENTRE, beta)
    assert image.sum() == pytest.approx(1.0, abs=0.03 if beta else 1e-3)
    profile = image[31]
    above = np.flatnonzero(profile >= profile.max() / 2)
    assert 2 <= above[-1] - above[0] + 1 <= 4


def test_injected_source_has_the_asked_signal_to_noise() -> None:
    unit = psf(2.5, CENTRE, CENTRE)
    flux = flux_for_snr(unit, 10.0, sigma=2.0)
    signal = flux * unit
    # optimal (matched-filter) S/N on white noise of sigma 2
    assert np.sqrt(np.sum(signal**2)) / 2.0 == pytest.approx(10.0, rel=1e-4)


def _scene() -> Scene:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1, size=(3, 63, 63)).astype(np.float32)
    return Scene(noise[0] + 50, noise[1] + 20, noise[2], 2.5, 1.0, 1.0)


def test_painters_touch_the_right_channels() -> None:
    scene, d = _scene(), Difficulty()
    sci, ref, diff = real_point_source(scene, np.random.default_rng(0), d)
    assert np.array_equal(ref, scene.reference)
    assert np.allclose(sci - scene.science, diff - scene.difference, atol=1e-4)
    assert (diff - scene.difference)[31, 31] > 0
    sci, ref, diff = cosmic_ray(scene, np.random.default_rng(1), d)
    assert np.array_equal(ref, scene.reference)
    sci, ref, diff = dipole(scene, np.random.default_rng(2), d)
    residual = diff - scene.difference
    assert residual.max() > 0 > residual.min()
    assert not np.array_equal(ref, scene.reference)


def test_augment_keeps_the_three_stamps_aligned() -> None:
    scene = _scene()
    marked = Scene(scene.science.copy(), scene.reference.copy(), scene.difference.copy(), 2.5, 1.0, 1.0)
    for stamp in (marked.science, marked.reference, marked.difference):
        stamp[5, 9] = 1000.0
    moved = augment(marked, np.random.default_rng(9), max_shift=3)
    peaks = {
        np.unravel_index(np.argmax(s), s.shape) for s in (moved.science, moved.reference, moved.difference)
    }
    assert len(peaks) == 1


@pytest.mark.parametrize("negative_difference", ["flipped", "signed"])
def test_fading_reals_and_reference_artefacts_are_negative_candidates(negative_difference: str) -> None:
    """Their candidate is negative in the subtraction. ZTF publishes its cutout sign-flipped,
    positive at the centre (as in 1,036 of 1,040 ZTF alerts): "flipped", the default; "signed"
    keeps the raw subtraction's sign (simulator v2; Rubin's cutouts)."""
    scene, d = _scene(), Difficulty(negative_difference=negative_difference)  # type: ignore[arg-type]
    sign = -1 if negative_difference == "flipped" else 1  # turns the stamp back to signed
    for seed in range(5):
        sci, ref, diff = real_fading(scene, np.random.default_rng(seed), d)
        residual = sign * diff - scene.difference  # the background's difference turns with it
        assert residual[29:34, 29:34].sum() < 0
        assert (ref - scene.reference)[29:34, 29:34].sum() > (sci - scene.science)[29:34, 29:34].sum() > 0
        sci, ref, diff = reference_artefact(scene, np.random.default_rng(seed), d)
        assert np.array_equal(sci, scene.science)  # the science stamp is untouched
        moved = ref - scene.reference
        assert np.abs(moved).max() > 0
        assert np.allclose(sign * diff - scene.difference, -moved, atol=1e-3)  # sigma_ref == sigma here


def test_mask_features_alone_cannot_separate_a_small_simulated_set(alerts: list[SourceAlert]) -> None:
    real, bogus, _ = simulate(alerts, SimulationConfig(n_real=300, n_bogus=300, seed=2))
    stamps = np.stack([s.stamp for s in real + bogus])
    labels = np.array([1] * len(real) + [0] * len(bogus))
    has_mask = np.asarray(mask_features(stamps)[:, 3:6].any(axis=1), dtype=bool)
    assert has_mask[labels == 1].mean() > 0.05 and has_mask[labels == 0].mean() > 0.05
    assert mask_feature_auc(stamps, labels) <= MASK_AUC_LIMIT


def test_the_mask_check_catches_a_shortcut(alerts: list[SourceAlert]) -> None:
    real, bogus, _ = simulate(alerts, SimulationConfig(n_real=300, n_bogus=300, seed=2))
    stamps = np.stack([s.stamp for s in real + bogus])
    labels = np.array([1] * len(real) + [0] * len(bogus))
    shortcut = stamps.copy()
    for i in np.flatnonzero(labels == 0)[::3]:  # a third of the bogus masked at the centre, as v1 did
        shortcut[i, 25:38, 25:38, 0] = np.nan
    assert mask_feature_auc(shortcut, labels) > 0.6
