"""Hot reload of a model set, file by file, and the rollback of a model that turns bad on the stream.

`ModelSetWatcher` keeps one `ModelWatcher` per model file of the plan
(`rbc1000.model.survey_models.ModelPlan`); when a file changes to a model that passes the
contract, the smoke batch and the admission check, it hands over a new `ModelSet` with that
file's model in every survey the plan gives it. The set it replaces travels along as
`previous`. A reload the plan cannot serve (the new model no longer declares a survey named
for it) is refused like any other: logged, counted, the old set keeps serving.

A model can pass every check at load and still fail on the stream: a fixed batch size the
smoke batch did not catch, NaN for some inputs. `score_with_rollback` scores a batch with the
set in use; when that set came from a reload (it has a `previous`) and the batch raised or
produced `nonfinite_score` or `scoring_failed` dead letters, the batch is scored again with
the previous set. If the previous set fails on fewer alerts, the fault was the new model's:
the previous set serves from now on (without a previous of its own), the batch's outcomes are
the previous set's, and the rollback is logged at ERROR and counted
(`rbc_model_reloads_total{outcome="rolled_back"}`). The watcher does not load the bad file
again until it changes. Otherwise the alerts were at fault and their dead letters stand.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from rbc1000.alerts.alert import DecodeResult
from rbc1000.model.contract import ContractError
from rbc1000.model.decisions import DeadLetter, LabellingLimiter, Outcome, Prepared, record_outcomes
from rbc1000.model.providers import Provider
from rbc1000.model.scoring import ModelWatcher, Scorer
from rbc1000.model.survey_models import ModelPlan, ModelSet, PlanError, Serving, as_model_set, log_model_set
from rbc1000.ops.metrics import NULL_METRICS, Metrics
from rbc1000.reasons import Reason

log = logging.getLogger(__name__)

MODEL_FAULTS = frozenset({Reason.NONFINITE_SCORE, Reason.SCORING_FAILED})

ScoreFn = Callable[[list[DecodeResult], Serving, LabellingLimiter, Metrics, Prepared | None], list[Outcome]]


class ModelSetWatcher:
    """Polls every model file of a plan; `poll()` returns the new ModelSet after a change."""

    def __init__(
        self,
        plan: ModelPlan,
        current: ModelSet,
        provider: Provider,
        *,
        metrics: Metrics = NULL_METRICS,
        intra_op_threads: int = 0,
        io_binding: bool = False,
        admit: Callable[[Scorer], None] | None = None,
    ) -> None:
        self.plan = plan
        self.current = current
        self.metrics = metrics
        by_path = {Path(s.path): s for s in current.scorers()}
        self._scorers: dict[Path, Scorer] = {}
        self._watchers: dict[Path, ModelWatcher] = {}
        for path in plan.paths():
            scorer = by_path.get(path.resolve()) or by_path.get(path)
            self._watchers[path] = ModelWatcher(
                path,
                provider,
                current=scorer,
                metrics=metrics,
                intra_op_threads=intra_op_threads,
                io_binding=io_binding,
                admit=admit,
            )
            if scorer is not None:
                self._scorers[path] = scorer
        self._before = dict(self._scorers)  # the files' models of `current.previous`

    def poll(self) -> ModelSet | None:
        """The new set when a file changed to an admitted model the plan can serve, else None."""
        changed = {path: new for path, w in self._watchers.items() if (new := w.poll()) is not None}
        if not changed:
            return None
        scorers = self._scorers | changed
        try:
            models = ModelSet.from_plan(self.plan, scorers, previous=self.current.without_previous())
        except PlanError as exc:
            self.metrics.model_reload("refused")
            self.metrics.set_model(self.current.info, self.current.provider, self.current.policy())
            log.error("model_reload_refused error=%s keep=current", exc)
            return None
        self._before, self._scorers = self._scorers, scorers
        self.current = models
        self.metrics.set_model(models.info, models.provider, models.policy())
        log_model_set(models)
        return models

    def rolled_back(self, models: ModelSet) -> None:
        """The loop went back to `models`: later reloads of other files build on it."""
        self.current = models
        self._scorers = self._before
        self.metrics.set_model(models.info, models.provider, models.policy())


def model_faults(outcomes: Sequence[Outcome]) -> int:
    """Dead letters that a model, not an alert, may have caused."""
    return sum(isinstance(o, DeadLetter) and o.reason in MODEL_FAULTS for o in outcomes)


def score_with_rollback(
    results: list[DecodeResult],
    serving: Serving,
    limiter: LabellingLimiter,
    metrics: Metrics,
    prepared: Prepared | None,
    score: ScoreFn,
    watcher: object = None,
) -> tuple[list[Outcome], Serving]:
    """Score a batch with `score` (the loop's scoring step); the outcomes and the models to
    keep serving: `serving`, or its previous set after a rollback (see the module docstring),
    which a `ModelSetWatcher` given as `watcher` is told about."""
    previous = serving.previous if isinstance(serving, ModelSet) else None
    if previous is None:
        return score(results, serving, limiter, metrics, prepared), serving
    failure: Exception | None = None
    deferred = _batch_metrics_only(metrics)  # outcomes counted once those that stand are known
    try:
        outcomes = score(results, serving, limiter, deferred, prepared)
    except Exception as exc:
        failure, outcomes = exc, []
    faults = len(results) + 1 if failure is not None else model_faults(outcomes)
    if faults == 0:
        record_outcomes(metrics, results, outcomes)
        return outcomes, serving
    old_outcomes = score(results, previous, limiter, NULL_METRICS, prepared)
    if model_faults(old_outcomes) >= faults:
        if failure is not None:
            raise failure
        record_outcomes(metrics, results, outcomes)
        return outcomes, serving
    metrics.model_reload("rolled_back")
    log.error(
        "model_rolled_back from=%s to=%s faults_new=%s faults_previous=%d error=%s",
        as_model_set(serving).describe(),
        previous.describe(),
        "all" if failure is not None else faults,
        model_faults(old_outcomes),
        failure,
    )
    record_outcomes(metrics, results, old_outcomes)
    restored = previous.without_previous()
    if isinstance(watcher, ModelSetWatcher):
        watcher.rolled_back(restored)
    return old_outcomes, restored


def _batch_metrics_only(metrics: Metrics) -> Metrics:
    """`metrics` for batch sizes and latencies; the per-alert counters go nowhere."""
    shadow = copy.copy(NULL_METRICS)
    shadow.batch_size = metrics.batch_size
    shadow.preprocess_latency = metrics.preprocess_latency
    shadow.score_latency = metrics.score_latency
    return shadow


def check_plan(plan: ModelPlan, load: Callable[[Path], Scorer]) -> ModelSet:
    """Load and assign the plan's models; ContractError (one line) for anything that stops it."""
    try:
        scorers = {path: load(path) for path in plan.paths()}
        models = ModelSet.from_plan(plan, scorers)
    except PlanError as exc:
        raise ContractError(str(exc)) from exc
    log_model_set(models)
    return models
