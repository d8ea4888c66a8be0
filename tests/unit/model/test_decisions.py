"""score_batch: one outcome per input in input order, one ONNX call, routing and rate cap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from rbc1000.alerts.alert import Cutouts, DecodeError, DecodeFailure, DecodeResult
from rbc1000.model.decisions import DeadLetter, LabellingLimiter, ScoredAlert, decide, score_batch
from rbc1000.model.preprocessing import triplet_from_cutouts
from rbc1000.model.scoring import Scorer
from rbc1000.ops.metrics import Metrics
from rbc1000.reasons import Reason
from tests.support.model_factory import tiny_info
from tests.support.synthetic_alerts import fits_stamp, make_alert, source_cutouts


class CountingScorer:
    """Wraps a Scorer and counts ONNX calls."""

    def __init__(self, inner: Scorer) -> None:
        self.inner = inner
        self.info = inner.info
        self.calls: list[int] = []

    def score(self, triplets: np.ndarray) -> np.ndarray:
        self.calls.append(len(triplets))
        return self.inner.score(triplets)


def test_decide_uses_band_then_threshold() -> None:
    info = tiny_info(low_confidence=(0.3, 0.7))
    assert decide(0.05, info) == "bogus"
    assert decide(0.3, info) == "uncertain"
    assert decide(0.5, info) == "uncertain"
    assert decide(0.7, info) == "uncertain"
    assert decide(0.71, info) == "real"


def test_decide_with_empty_band_is_threshold_only() -> None:
    info = tiny_info(low_confidence=(0.5, 0.5))
    assert decide(0.5, info) == "real"
    assert decide(0.4999, info) == "bogus"


def test_outcomes_in_input_order_with_one_onnx_call(scorer: Scorer) -> None:
    failure = DecodeFailure(3, DecodeError(Reason.BAD_AVRO, "truncated"))
    no_cutouts = make_alert(2, Cutouts(None, None, None))
    bad_fits = make_alert(4, Cutouts(b"xx", b"yy", b"zz"))
    good = [make_alert(1), make_alert(5, source_cutouts(0.0, seed=5))]
    batch: list[DecodeResult] = [good[0], no_cutouts, failure, bad_fits, good[1]]
    counting = CountingScorer(scorer)
    out = score_batch(batch, counting)  # type: ignore[arg-type]
    assert counting.calls == [2]
    assert [type(o).__name__ for o in out] == [
        "ScoredAlert",
        "DeadLetter",
        "DeadLetter",
        "DeadLetter",
        "ScoredAlert",
    ]
    assert out[1] == DeadLetter(Reason.MISSING_CUTOUTS, out[1].detail, 1)  # type: ignore[union-attr]
    assert out[2] == DeadLetter(Reason.BAD_AVRO, "truncated", 2)
    assert isinstance(out[3], DeadLetter) and out[3].index == 3 and out[3].reason != ""
    expected = scorer.score(np.stack([triplet_from_cutouts(a.cutouts) for a in good]))
    for o, alert, p in zip((out[0], out[4]), good, expected.tolist(), strict=True):
        assert isinstance(o, ScoredAlert) and o.alert is alert
        assert o.p_real is not None and o.p_real == pytest.approx(p, abs=1e-6)
        assert o.decision == decide(o.p_real, scorer.info)


def test_bright_source_is_real_and_blank_is_bogus(scorer: Scorer) -> None:
    out = score_batch([make_alert(1), make_alert(2, source_cutouts(0.0, seed=2))], scorer)
    assert [o.decision for o in out if isinstance(o, ScoredAlert)] == ["real", "bogus"]


def test_empty_batch(scorer: Scorer) -> None:
    assert score_batch([], scorer) == []


def test_uncertain_alerts_go_to_labelling_within_the_cap(scorer: Scorer) -> None:
    info = tiny_info(low_confidence=(0.0, 1.0))
    wide = Scorer(scorer._session, info, scorer.provider, scorer.path, scorer.stamp)
    limiter = LabellingLimiter(rate_per_s=1.0, burst=2, clock=lambda: 0.0)
    out = score_batch([make_alert(i) for i in range(5)], wide, limiter)
    assert all(isinstance(o, ScoredAlert) and o.decision == "uncertain" for o in out)
    assert [o.to_labelling for o in out if isinstance(o, ScoredAlert)] == [True, True, False, False, False]


def test_limiter_refills_with_time() -> None:
    now = [0.0]
    limiter = LabellingLimiter(rate_per_s=2.0, burst=1, clock=lambda: now[0])
    assert limiter.allow()
    assert not limiter.allow()
    now[0] = 0.25
    assert not limiter.allow()
    now[0] = 0.5
    assert limiter.allow()
    now[0] = 100.0
    assert limiter.allow()
    assert not limiter.allow()  # burst caps what piles up


def test_limiter_zero_rate_sends_nothing_and_inf_everything() -> None:
    assert not LabellingLimiter(0.0, 5).allow()
    unlimited = LabellingLimiter(math.inf, 1)
    assert all(unlimited.allow() for _ in range(1000))
    with pytest.raises(ValueError):
        LabellingLimiter(-1.0)


def test_metrics_recorded(scorer: Scorer) -> None:
    metrics = Metrics(CollectorRegistry())
    batch: list[DecodeResult] = [
        make_alert(1),
        make_alert(2, Cutouts(None, None, None)),
        DecodeFailure(0, DecodeError(Reason.BAD_AVRO)),
    ]
    score_batch(batch, scorer, metrics=metrics)
    get = metrics.registry.get_sample_value
    assert get("rbc_alerts_scored_total", {"survey": "ztf", "decision": "real"}) == 1.0
    assert get("rbc_alerts_dead_lettered_total", {"survey": "ztf", "reason": "missing_cutouts"}) == 1.0
    assert get("rbc_alerts_dead_lettered_total", {"survey": "unknown", "reason": "bad_avro"}) == 1.0
    assert get("rbc_batch_size_alerts_sum") == 3.0
    assert get("rbc_p_real_count", {"survey": "ztf"}) == 1.0
    assert get("rbc_score_latency_seconds_count") == 1.0


def test_uncompressed_fits_also_scores(scorer: Scorer) -> None:
    img = np.random.default_rng(0).normal(0, 1, (63, 63))
    alert = make_alert(9, Cutouts(fits_stamp(img, False), fits_stamp(img, False), fits_stamp(img, False)))
    (out,) = score_batch([alert], scorer)
    assert isinstance(out, ScoredAlert) and out.p_real is not None and 0.0 <= out.p_real <= 1.0


class BrokenScorer:
    """A model that answers NaN, +inf or a value above 1 for some alerts and a good score for the rest."""

    def __init__(self, inner: Scorer, bad: dict[int, float]) -> None:
        self.inner = inner
        self.info = inner.info
        self.bad = bad

    def score(self, triplets: np.ndarray) -> np.ndarray:
        scores = self.inner.score(triplets).copy()
        for row, value in self.bad.items():
            scores[row] = value
        return scores


def test_nonfinite_scores_become_dead_letters_never_scored_records(scorer: Scorer) -> None:
    metrics = Metrics(CollectorRegistry())
    broken = BrokenScorer(scorer, {1: math.nan, 2: math.inf, 3: 1.5})
    out = score_batch([make_alert(i) for i in range(5)], broken, metrics=metrics)  # type: ignore[arg-type]
    assert [type(o).__name__ for o in out] == [
        "ScoredAlert",
        "DeadLetter",
        "DeadLetter",
        "DeadLetter",
        "ScoredAlert",
    ]
    for index in (1, 2, 3):
        letter = out[index]
        assert isinstance(letter, DeadLetter)
        assert (letter.reason, letter.index) == (Reason.NONFINITE_SCORE, index)
    assert all(o.p_real is not None and 0.0 <= o.p_real <= 1.0 for o in out if isinstance(o, ScoredAlert))
    get = metrics.registry.get_sample_value
    assert get("rbc_alerts_dead_lettered_total", {"survey": "ztf", "reason": "nonfinite_score"}) == 3.0
    assert get("rbc_alerts_scored_total", {"survey": "ztf", "decision": "real"}) == 2.0
    assert get("rbc_p_real_count", {"survey": "ztf"}) == 2.0


def test_alerts_are_preprocessed_with_the_models_version(scorer: Scorer) -> None:
    rng = np.random.default_rng(4)
    difference = rng.normal(0, 1, (63, 63))
    difference[:10] = np.finfo(np.float32).min  # a sentinel-masked band: the versions differ here
    stamps = [fits_stamp(rng.normal(100, 5, (63, 63))), fits_stamp(rng.normal(100, 5, (63, 63)))]
    alert = make_alert(1, Cutouts(stamps[0], stamps[1], fits_stamp(difference)))
    seen = {}
    for version in ("rbc-pp-1", "rbc-pp-2"):
        info = tiny_info(preprocessing_version=version)
        model = Scorer(scorer._session, info, scorer.provider, scorer.path, scorer.stamp)
        (out,) = score_batch([alert], model)
        expected = scorer.score(triplet_from_cutouts(alert.cutouts, version)[None])
        assert isinstance(out, ScoredAlert) and out.p_real == pytest.approx(float(expected[0]), abs=1e-6)
        seen[version] = out.p_real
    assert seen["rbc-pp-1"] != pytest.approx(seen["rbc-pp-2"], abs=1e-3)
