"""Labelling selection: the band per survey, the random share, the reason on every selected alert."""

from __future__ import annotations

import math

import pytest

from rbc1000.alerts.alert import Alert
from rbc1000.model.decisions import LabellingLimiter, ScoredAlert, score_batch
from rbc1000.model.scoring import Scorer
from tests.support.synthetic_alerts import make_alert, source_cutouts

# Ten kinds of stamp, from blank to bright, so the replay holds every decision.
STAMPS = [source_cutouts(flux, seed=i) for i, flux in enumerate((0, 0, 20, 40, 60, 80, 120, 200, 500, 900))]


def _replay(n: int) -> list[Alert]:
    return [make_alert(i, STAMPS[i % len(STAMPS)]) for i in range(n)]


N = 1000
SHARE = 0.05


def _binomial_bound(n: int, p: float, sigmas: float = 4.0) -> tuple[float, float]:
    spread = sigmas * math.sqrt(n * p * (1 - p))
    return n * p - spread, n * p + spread


def test_random_share_over_1000_alerts_is_within_its_binomial_bound(scorer: Scorer) -> None:
    limiter = LabellingLimiter(math.inf, random_share=SHARE, seed=13)
    outcomes = score_batch(_replay(N), scorer, limiter)
    scored = [o for o in outcomes if isinstance(o, ScoredAlert)]
    random_picks = [o for o in scored if o.selection == "random"]
    low, high = _binomial_bound(N, SHARE)
    assert len(scored) == N and low <= len(random_picks) <= high
    assert {o.decision for o in random_picks} - {"uncertain"}  # drawn whatever the decision
    assert all(o.to_labelling for o in random_picks)
    uncertain = [o for o in scored if o.decision == "uncertain" and o.selection != "random"]
    assert all(o.selection == "uncertain" and o.to_labelling for o in uncertain)
    assert not [o for o in scored if o.to_labelling and o.selection is None]


def test_the_same_seed_draws_the_same_alerts(scorer: Scorer) -> None:
    alerts = _replay(200)

    def picks() -> list[int]:
        out = score_batch(alerts, scorer, LabellingLimiter(math.inf, random_share=0.1, seed=7))
        return [o.alert.alert_id for o in out if isinstance(o, ScoredAlert) and o.selection == "random"]

    assert picks() == picks() and picks()


def test_random_picks_take_tokens_from_the_same_rate_cap(scorer: Scorer) -> None:
    limiter = LabellingLimiter(rate_per_s=1.0, burst=3, clock=lambda: 0.0, random_share=1.0, seed=1)
    out = score_batch([make_alert(i) for i in range(10)], scorer, limiter)
    routed = [o for o in out if isinstance(o, ScoredAlert) and o.to_labelling]
    assert len(routed) == 3 and {o.selection for o in routed} == {"random"}


def test_no_random_share_selects_only_uncertain(scorer: Scorer) -> None:
    out = score_batch([make_alert(i) for i in range(50)], scorer, LabellingLimiter(math.inf))
    assert {o.selection for o in out if isinstance(o, ScoredAlert) and o.to_labelling} <= {"uncertain"}


def test_random_share_is_checked() -> None:
    with pytest.raises(ValueError, match="random_share"):
        LabellingLimiter(1.0, random_share=1.5)
