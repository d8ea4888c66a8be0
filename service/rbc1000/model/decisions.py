"""Preprocess, score and route one batch of decoded alerts; shared by `rbc score` and `rbc serve`.

    score_batch(results: Sequence[DecodeResult], scorer: Scorer,
                limiter: LabellingLimiter | None = None,
                metrics: Metrics = NULL_METRICS) -> list[Outcome]

`results` are what `rbc1000.alerts.decoding.Decoder.decode` (or `rbc1000.alerts.sources.iter_alerts`)
produced, in any grouping. The returned list has exactly one entry per input, in input order,
so callers zip it with their own bookkeeping (packet, topic, partition, offset):

- an `Alert` whose stamps make a triplet becomes a `ScoredAlert` (p_real, decision and whether
  it goes to labelling); all triplets of the batch go through one ONNX call;
- a `DecodeFailure`, or an `Alert` whose cutouts are missing or unreadable
  (`rbc1000.model.preprocessing.triplet_from_cutouts` raises `DecodeError`), becomes a `DeadLetter`
  with the error's reason and detail; `DeadLetter.index` is the entry's position in `results`;
- an `Alert` whose score is NaN, infinite or outside [0, 1] becomes a `DeadLetter` with reason
  `nonfinite_score`: such a score carries no decision and is never published.

Each alert is preprocessed with the version its model declares
(`scorer.info.preprocessing_version`, see `rbc1000.model.preprocessing`).

Decisions: inside the model's low-confidence band [low, high] (both ends included, an empty
band when low == high) an alert is "uncertain"; otherwise it is "real" when
p_real >= threshold, else "bogus". Uncertain alerts go to labelling while the
`LabellingLimiter` has tokens; the others are still scored and published, only not sent to
the labellers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure, DecodeResult
from rbc1000.model.contract import ModelInfo
from rbc1000.model.preprocessing import TRIPLET_SHAPE, triplet_from_cutouts
from rbc1000.model.scoring import Scorer
from rbc1000.ops.metrics import NULL_METRICS, UNKNOWN_SURVEY, Metrics
from rbc1000.reasons import Reason

Decision = Literal["real", "bogus", "uncertain"]
DECISIONS: tuple[Decision, ...] = ("real", "bogus", "uncertain")


@dataclass(frozen=True, slots=True)
class ScoredAlert:
    """An alert with its model score, decision and labelling route."""

    alert: Alert
    p_real: float
    decision: Decision
    to_labelling: bool


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
    raised, or None for a DecodeFailure; `version` is the preprocessing version they follow,
    which must be the model's.
    """

    triplets: np.ndarray
    rows: Sequence[int | DecodeError | None]
    version: str

    def take(self, rows: list[int]) -> np.ndarray:
        """The triplets of `rows`, in that order: a view when they are the first rows in order."""
        if rows == list(range(len(rows))):
            return self.triplets[: len(rows)]
        return self.triplets[rows]


def decide(p_real: float, info: ModelInfo) -> Decision:
    """The routing decision for one score under the model's threshold and low-confidence band."""
    low, high = info.low_confidence
    if low < high and low <= p_real <= high:
        return "uncertain"
    return "real" if p_real >= info.threshold else "bogus"


class LabellingLimiter:
    """Token bucket capping how many alerts per second go to the human labellers.

    `rate_per_s` tokens are added per second up to `burst`; each routed alert takes one.
    A rate of 0 sends nothing to labelling; `math.inf` sends everything. `clock` returns
    seconds (monotonic); tests inject a fake one.
    """

    def __init__(
        self, rate_per_s: float, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s < 0 or burst < 1:
            raise ValueError(f"need rate_per_s >= 0 and burst >= 1, got {rate_per_s}, {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst
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


def score_batch(
    results: Sequence[DecodeResult],
    scorer: Scorer,
    limiter: LabellingLimiter | None = None,
    metrics: Metrics = NULL_METRICS,
    prepared: Prepared | None = None,
) -> list[Outcome]:
    """Preprocess (unless `prepared` has the triplets), score in one ONNX call and route a
    batch; see the module docstring."""
    started = time.perf_counter()
    outcomes: list[Outcome | None] = [None] * len(results)
    version = scorer.info.preprocessing_version
    if prepared is not None and prepared.version != version:
        raise ValueError(f"triplets of {prepared.version}, but the model expects {version}")
    positions: list[int] = []
    rows: list[int] = []
    triplets = np.empty((len(results) if prepared is None else 0, *TRIPLET_SHAPE), dtype=np.float32)
    for i, result in enumerate(results):
        if isinstance(result, DecodeFailure):
            outcomes[i] = DeadLetter(result.error.reason, result.error.detail, i)
            continue
        try:
            if prepared is None:
                triplets[len(positions)] = triplet_from_cutouts(result.cutouts, version)
            else:
                rows.append(_prepared_row(prepared, i))
        except DecodeError as exc:
            outcomes[i] = DeadLetter(exc.reason, exc.detail, i)
            continue
        positions.append(i)
    preprocessed = time.perf_counter()
    scores = scorer.score(triplets[: len(positions)] if prepared is None else prepared.take(rows))
    scored_at = time.perf_counter()
    for i, p in zip(positions, scores.tolist(), strict=True):
        if not 0.0 <= p <= 1.0:  # False for NaN too
            outcomes[i] = DeadLetter(Reason.NONFINITE_SCORE, f"model score {p!r} is not in [0, 1]", i)
            continue
        outcomes[i] = _route(_as_alert(results[i]), float(p), scorer.info, limiter)
    final = [o for o in outcomes if o is not None]
    _record(metrics, results, final, len(positions), preprocessed - started, scored_at - preprocessed)
    return final


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


def _route(alert: Alert, p_real: float, info: ModelInfo, limiter: LabellingLimiter | None) -> ScoredAlert:
    decision = decide(p_real, info)
    to_labelling = decision == "uncertain" and (limiter is None or limiter.allow())
    return ScoredAlert(alert, p_real, decision, to_labelling)


def _record(
    metrics: Metrics,
    results: Sequence[DecodeResult],
    outcomes: list[Outcome],
    n_scored: int,
    preprocess_s: float,
    score_s: float,
) -> None:
    """Batch-level and per-outcome metrics of one call of score_batch."""
    metrics.batch_size.observe(len(results))
    metrics.preprocess_latency.observe(preprocess_s)
    if n_scored:
        metrics.score_latency.observe(score_s)
    for result, outcome in zip(results, outcomes, strict=True):
        survey = result.survey if isinstance(result, Alert) else UNKNOWN_SURVEY
        if isinstance(outcome, DeadLetter):
            metrics.dead_lettered.labels(survey=survey, reason=outcome.reason).inc()
            continue
        metrics.scored.labels(survey=survey, decision=outcome.decision).inc()
        metrics.p_real.observe(outcome.p_real)
        if outcome.decision == "uncertain":
            routed = "routed" if outcome.to_labelling else "rate_limited"
            metrics.labelling.labels(survey=survey, outcome=routed).inc()
