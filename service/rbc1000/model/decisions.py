"""Preprocess, score and route one batch of decoded alerts; shared by `rbc score` and `rbc serve`.

    score_batch(results: Sequence[DecodeResult], scorer: Scorer | ModelSet,
                limiter: LabellingLimiter | None = None,
                metrics: Metrics = NULL_METRICS, prepared: Prepared | None = None) -> list[Outcome]

`results` are what `rbc1000.alerts.decoding.Decoder.decode` (or `rbc1000.alerts.sources.iter_alerts`)
produced, in any grouping. The returned list has exactly one entry per input, in input order,
so callers zip it with their own bookkeeping (packet, topic, partition, offset):

- an `Alert` of a survey that a loaded model judges (`rbc1000.model.survey_models`; a bare
  Scorer judges the surveys its policy declares) and whose stamps make a triplet becomes a
  `ScoredAlert` (p_real, decision, the model that scored it, whether and why it goes to
  labelling); each model scores its alerts of the batch in one ONNX call;
- an `Alert` of a survey no loaded model judges becomes a `ScoredAlert` with decision
  `unscored`, p_real None and no model: a model is never asked about a survey it was not
  validated for, and no score stands in for the missing one;
- a `DecodeFailure`, or an `Alert` whose cutouts are missing or unreadable
  (`rbc1000.model.preprocessing.triplet_from_cutouts` raises `DecodeError`), becomes a `DeadLetter`
  with the error's reason and detail; `DeadLetter.index` is the entry's position in `results`;
- an `Alert` whose score is NaN, infinite or outside [0, 1] becomes a `DeadLetter` with reason
  `nonfinite_score`: such a score carries no decision and is never published.

Each alert is preprocessed with the version its model declares: `prepared` triplets (made by
the batch decoder for one version) are used for models of that version; a model of another
version gets triplets made here, in Python, from the cutouts.

Decisions, per survey from the policy of the model that judges it (`rbc1000.model.policy`;
a legacy model: its global threshold and band): inside the band [low, high] (both ends
included, an empty band when low == high) an alert is "uncertain"; otherwise it is "real"
when p_real >= threshold, else "bogus".

Labelling (`LabellingLimiter`): a random share of ALL scored alerts is drawn, whatever their
decision, and goes to labelling marked `random` (an unbiased sample to measure the accuracy of
confident decisions); the other uncertain alerts go marked `uncertain`. Both take tokens from
the same rate cap; an alert without a token is still scored and published.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure, DecodeResult
from rbc1000.model.contract import ModelInfo
from rbc1000.model.policy import SurveyPolicy
from rbc1000.model.preprocessing import triplet_from_cutouts
from rbc1000.model.scoring import Scorer
from rbc1000.model.survey_models import Serving, as_model_set
from rbc1000.ops.metrics import NULL_METRICS, UNKNOWN_SURVEY, Metrics
from rbc1000.reasons import Reason

Decision = Literal["real", "bogus", "uncertain", "unscored"]
DECISIONS: tuple[Decision, ...] = ("real", "bogus", "uncertain")  # the verdicts a model gives
UNSCORED: Decision = "unscored"
SelectionReason = Literal["uncertain", "random"]


@dataclass(frozen=True, slots=True)
class ScoredAlert:
    """An alert with its model score, decision and labelling route.

    `p_real` and `model` are None for an `unscored` alert; `selection` says why an alert
    routed to labelling was chosen (None when it was not routed)."""

    alert: Alert
    p_real: float | None
    decision: Decision
    to_labelling: bool
    model: ModelInfo | None = None
    selection: SelectionReason | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input that could not be scored: why, the detail, its position in the batch."""

    reason: Reason
    detail: str
    index: int


Outcome = ScoredAlert | DeadLetter


@dataclass(frozen=True, slots=True)
class Prepared:
    """Triplets made before scoring (by the batch decoder, `rbc1000.alerts.native`).

    `rows[i]` is the row of `results[i]` in `triplets`, or the DecodeError its preprocessing
    raised, or None for a DecodeFailure; `version` is the preprocessing version they follow.
    """

    triplets: np.ndarray
    rows: Sequence[int | DecodeError | None]
    version: str

    def take(self, rows: list[int]) -> np.ndarray:
        """The triplets of `rows`, in that order: a view when they are the first rows in order."""
        if rows == list(range(len(rows))):
            return self.triplets[: len(rows)]
        return self.triplets[rows]


def decide(p_real: float, rule: ModelInfo | SurveyPolicy) -> Decision:
    """The decision for one score under a survey policy (or a model's global threshold and band)."""
    if isinstance(rule, ModelInfo):
        (low, high), threshold = rule.low_confidence, rule.threshold
    else:
        (low, high), threshold = rule.band, rule.threshold
    if low < high and low <= p_real <= high:
        return "uncertain"
    return "real" if p_real >= threshold else "bogus"


class LabellingLimiter:
    """Which scored alerts go to the human labellers: a token bucket and a random share.

    `rate_per_s` tokens are added per second up to `burst`; each routed alert takes one.
    A rate of 0 sends nothing to labelling; `math.inf` sends everything. `clock` returns
    seconds (monotonic); tests inject a fake one. `random_share` of all scored alerts is
    drawn (from `random.Random(seed)`) for the unbiased random sample.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        random_share: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if rate_per_s < 0 or burst < 1 or not 0.0 <= random_share <= 1.0:
            raise ValueError(
                f"need rate_per_s >= 0, burst >= 1, 0 <= random_share <= 1; got {rate_per_s}, "
                f"{burst}, {random_share}"
            )
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.random_share = random_share
        self._rng = random.Random(seed)
        self._clock = clock
        self._tokens = float(burst) if rate_per_s > 0 else 0.0
        self._last = clock()

    def allow(self) -> bool:
        """Take one token if there is one; True means route this alert to labelling."""
        if math.isinf(self.rate_per_s):
            return True
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def reason(self, decision: Decision) -> SelectionReason | None:
        """Why this scored alert is a labelling candidate: drawn at random first (so the
        random sample covers every decision), else uncertain; None when it is neither."""
        if self.random_share > 0.0 and self._rng.random() < self.random_share:
            return "random"
        return "uncertain" if decision == "uncertain" else None


@dataclass(slots=True)
class _Group:
    """The alerts of a batch that one model scores, and their triplets."""

    scorer: Scorer
    positions: list[int]
    triplets: list[np.ndarray]  # made here (model of another version than `prepared`)
    rows: list[int]  # rows of `prepared` (model of its version)


def score_batch(
    results: Sequence[DecodeResult],
    scorer: Serving,
    limiter: LabellingLimiter | None = None,
    metrics: Metrics = NULL_METRICS,
    prepared: Prepared | None = None,
) -> list[Outcome]:
    """Preprocess (unless `prepared` has the triplets), score in one ONNX call per model and
    route a batch; see the module docstring."""
    started = time.perf_counter()
    models = as_model_set(scorer)
    outcomes: list[Outcome | None] = [None] * len(results)
    groups: dict[int, _Group] = {}
    for i, result in enumerate(results):
        if isinstance(result, DecodeFailure):
            outcomes[i] = DeadLetter(result.error.reason, result.error.detail, i)
            continue
        model = models.for_survey(result.survey)
        if model is None:
            outcomes[i] = ScoredAlert(result, None, UNSCORED, False)
            continue
        group = groups.setdefault(id(model), _Group(model, [], [], []))
        try:
            _add(group, result, i, prepared)
        except DecodeError as exc:
            outcomes[i] = DeadLetter(exc.reason, exc.detail, i)
    preprocessed = time.perf_counter()
    for group in (g for g in groups.values() if g.positions):
        scores = group.scorer.score(_stack(group, prepared))
        for i, p in zip(group.positions, scores.tolist(), strict=True):
            if not 0.0 <= p <= 1.0:  # False for NaN too
                outcomes[i] = DeadLetter(Reason.NONFINITE_SCORE, f"model score {p!r} is not in [0, 1]", i)
                continue
            alert = _as_alert(results[i])
            policy = models.policy_for(alert.survey)
            assert policy is not None  # the model was chosen because it judges this survey
            outcomes[i] = _route(alert, float(p), policy, group.scorer.info, limiter)
    scored_at = time.perf_counter()
    final = [o for o in outcomes if o is not None]
    n_scored = sum(len(g.positions) for g in groups.values())
    record_batch(metrics, len(results), n_scored, preprocessed - started, scored_at - preprocessed)
    record_outcomes(metrics, results, final)
    return final


def _add(group: _Group, alert: Alert, index: int, prepared: Prepared | None) -> None:
    """Queue `alert` for its model: a prepared row when the version matches, else a triplet
    made here; raises the DecodeError of a stamp that cannot be read."""
    version = group.scorer.info.preprocessing_version
    if prepared is not None and prepared.version == version:
        group.rows.append(_prepared_row(prepared, index))
    else:
        group.triplets.append(triplet_from_cutouts(alert.cutouts, version))
    group.positions.append(index)


def _stack(group: _Group, prepared: Prepared | None) -> np.ndarray:
    if group.rows:
        assert prepared is not None and not group.triplets
        return prepared.take(group.rows)
    return np.stack(group.triplets)


def _prepared_row(prepared: Prepared, index: int) -> int:
    row = prepared.rows[index]
    if isinstance(row, DecodeError):
        raise row
    if row is None:
        raise ValueError(f"result {index} is an alert without a prepared triplet or error")
    return row


def _as_alert(result: DecodeResult) -> Alert:
    assert isinstance(result, Alert)  # positions hold only alerts that made a triplet
    return result


def _route(
    alert: Alert, p_real: float, policy: SurveyPolicy, info: ModelInfo, limiter: LabellingLimiter | None
) -> ScoredAlert:
    decision = decide(p_real, policy)
    if limiter is None:  # no cap (files): every uncertain alert is a labelling candidate
        reason: SelectionReason | None = "uncertain" if decision == "uncertain" else None
        return ScoredAlert(alert, p_real, decision, reason is not None, info, reason)
    reason = limiter.reason(decision)
    routed = reason is not None and limiter.allow()
    return ScoredAlert(alert, p_real, decision, routed, info, reason if routed else None)


def record_batch(metrics: Metrics, size: int, n_scored: int, preprocess_s: float, score_s: float) -> None:
    """Batch size and stage latencies of one call of score_batch."""
    metrics.batch_size.observe(size)
    metrics.preprocess_latency.observe(preprocess_s)
    if n_scored:
        metrics.score_latency.observe(score_s)


def record_outcomes(metrics: Metrics, results: Sequence[DecodeResult], outcomes: Sequence[Outcome]) -> None:
    """The per-alert counters of a batch's outcomes: scored, unscored, dead-lettered, labelling."""
    for result, outcome in zip(results, outcomes, strict=True):
        survey = result.survey if isinstance(result, Alert) else UNKNOWN_SURVEY
        if isinstance(outcome, DeadLetter):
            metrics.dead_lettered.labels(survey=survey, reason=outcome.reason).inc()
            continue
        if outcome.p_real is None:
            metrics.unscored.labels(survey=survey).inc()
            continue
        metrics.scored.labels(survey=survey, decision=outcome.decision).inc()
        metrics.observe_p_real(survey, outcome.p_real)
        if outcome.decision == "uncertain" or outcome.selection == "random":
            routed = "routed" if outcome.to_labelling else "rate_limited"
            metrics.labelling.labels(survey=survey, outcome=routed).inc()
