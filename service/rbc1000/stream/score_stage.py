"""Step 3 of the loop: score a decoded batch, falling back to alert by alert when the batch
call fails, and telling a broken model (raise: nothing is dead-lettered or committed) from
bad inputs (dead letters)."""

from __future__ import annotations

import logging

from rbc1000.alerts.alert import Alert, DecodeError, DecodeResult
from rbc1000.model.decisions import DeadLetter, LabellingLimiter, Outcome, Prepared, ScoredAlert, score_batch
from rbc1000.model.survey_models import Serving
from rbc1000.ops.metrics import Metrics
from rbc1000.reasons import Reason

log = logging.getLogger(__name__)


def score_with_fallback(
    results: list[DecodeResult],
    scorer: Serving,
    limiter: LabellingLimiter,
    metrics: Metrics,
    prepared: Prepared | None = None,
) -> list[Outcome]:
    """One ONNX call for the batch; if it fails, alert by alert, so one bad input cannot
    sink the others. If every alert fails on its own too, the fault is not in the inputs
    (a broken model or device): raise, so that nothing is dead-lettered or committed."""
    try:
        return score_batch(results, scorer, limiter, metrics, prepared)
    except Exception:
        log.exception("batch_scoring_failed alerts=%d retry=one_by_one", len(results))
    outcomes: list[Outcome] = []
    failures: list[Exception] = []
    for i, result in enumerate(results):
        one = None if prepared is None else Prepared(prepared.triplets, [prepared.rows[i]], prepared.version)
        try:
            outcomes.extend(score_batch([result], scorer, limiter, metrics, one))
        except Exception as exc:
            if isinstance(result, Alert) and not isinstance(one and one.rows[0], DecodeError):
                failures.append(exc)  # a failure of the model, not of an alert it never saw
            outcomes.append(DeadLetter(Reason.SCORING_FAILED, repr(exc), 0))
    # Only alerts that reached the model count: one without cutouts or that failed to decode
    # says nothing about the model, and must not turn a broken model into dead letters.
    reached = len(failures) + sum(_reached_model(o) for o in outcomes)
    if len(failures) > 1 and len(failures) == reached:
        raise RuntimeError(f"every alert of the batch failed to score: {failures[0]!r}")
    return outcomes


def _reached_model(outcome: Outcome) -> bool:
    """Whether the model gave this outcome a score (finite or not)."""
    if isinstance(outcome, DeadLetter):
        return outcome.reason == Reason.NONFINITE_SCORE
    return isinstance(outcome, ScoredAlert) and outcome.p_real is not None
