"""A model that turns bad after a reload is rolled back; reloads go file by file through the gate."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from prometheus_client import CollectorRegistry

from rbc1000.alerts.alert import Alert, Cutouts
from rbc1000.model.admission import AdmissionRules
from rbc1000.model.decisions import DeadLetter, LabellingLimiter, ScoredAlert
from rbc1000.model.scoring import Scorer
from rbc1000.model.set_reload import ModelSetWatcher, score_with_rollback
from rbc1000.model.survey_models import ModelPlan, ModelSet
from rbc1000.ops.metrics import Metrics
from rbc1000.stream.score_stage import score_with_fallback
from tests.support.model_factory import fixed_batch_model, tiny_info, tiny_model, write_tiny_model
from tests.support.synthetic_alerts import make_alert

LENIENT = AdmissionRules(canary_min_auc=0.0, canary_max_uncertain=1.0)


class NaNForSome:
    """A loaded model that gives NaN for every other input (it passed its smoke batch)."""

    def __init__(self, inner: Scorer) -> None:
        self.inner, self.info, self.provider, self.path = inner, inner.info, inner.provider, inner.path

    def score(self, triplets: np.ndarray) -> np.ndarray:
        scores = self.inner.score(triplets)
        scores[::2] = np.nan
        return scores


def _fixed_batch(tmp_path: Path, scorer: Scorer) -> Scorer:
    """A fixed-batch-4 model as if it had got past load (as it did before the contract check)."""
    data = fixed_batch_model(tiny_info(version="fixed")).SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return Scorer(
        session, tiny_info(version="fixed"), "CPUExecutionProvider", tmp_path / "f.onnx", scorer.stamp
    )


def _after_reload(new: Any, old: Scorer) -> ModelSet:
    return ModelSet(dict.fromkeys(("ztf", "lsst", "wfst"), new), new, previous=ModelSet.single(old))


def _score(models: ModelSet, alerts: list[Alert], metrics: Metrics) -> tuple[list[Any], Any]:
    return score_with_rollback(
        list(alerts), models, LabellingLimiter(math.inf), metrics, None, score_with_fallback
    )


def _rolled_back(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("rbc_model_reloads_total", {"outcome": "rolled_back"})


def test_a_reloaded_model_giving_nan_is_rolled_back(scorer: Scorer) -> None:
    metrics = Metrics(CollectorRegistry())
    alerts = [make_alert(i) for i in range(6)]
    outcomes, serving = _score(_after_reload(NaNForSome(scorer), scorer), alerts, metrics)
    assert all(isinstance(o, ScoredAlert) and o.model is scorer.info for o in outcomes)
    assert isinstance(serving, ModelSet) and serving.primary is scorer and serving.previous is None
    assert _rolled_back(metrics) == 1.0
    assert (
        metrics.registry.get_sample_value(
            "rbc_alerts_dead_lettered_total", {"survey": "ztf", "reason": "nonfinite_score"}
        )
        == 0.0
    )


def test_a_reloaded_model_that_fails_on_every_batch_is_rolled_back(scorer: Scorer, tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    outcomes, serving = _score(
        _after_reload(_fixed_batch(tmp_path, scorer), scorer), [make_alert(i) for i in range(3)], metrics
    )
    assert all(isinstance(o, ScoredAlert) for o in outcomes) and len(outcomes) == 3
    assert isinstance(serving, ModelSet) and serving.primary is scorer and _rolled_back(metrics) == 1.0


def test_alerts_that_both_models_fail_on_stay_dead_letters(scorer: Scorer) -> None:
    metrics = Metrics(CollectorRegistry())
    broken = make_alert(9, Cutouts(None, None, None))
    models = _after_reload(scorer, scorer)
    outcomes, serving = _score(models, [make_alert(1), broken], metrics)
    assert isinstance(outcomes[1], DeadLetter) and serving is models and not _rolled_back(metrics)


def test_without_a_previous_model_nan_scores_are_dead_letters(scorer: Scorer) -> None:
    metrics = Metrics(CollectorRegistry())
    first = ModelSet.single(NaNForSome(scorer))  # type: ignore[arg-type]
    outcomes, serving = _score(first, [make_alert(i) for i in range(4)], metrics)
    assert [isinstance(o, DeadLetter) and o.reason == "nonfinite_score" for o in outcomes] == [
        True,
        False,
    ] * 2
    assert serving is first and not _rolled_back(metrics)


def test_reload_is_per_file_and_keeps_the_previous_set(tmp_path: Path) -> None:
    ztf, lsst = (
        write_tiny_model(tmp_path / "ztf.onnx", tiny_info(version="z1")),
        write_tiny_model(tmp_path / "lsst.onnx", tiny_info(version="l1")),
    )
    plan = ModelPlan(None, {"ztf": ztf, "lsst": lsst})
    scorers = {p: Scorer.load(p, "cpu", 1) for p in (ztf, lsst)}
    metrics = Metrics(CollectorRegistry())
    watcher = ModelSetWatcher(
        plan, ModelSet.from_plan(plan, scorers), "cpu", metrics=metrics, intra_op_threads=1, admit=LENIENT
    )
    assert watcher.poll() is None
    (tmp_path / "new.onnx").write_bytes(tiny_model(tiny_info(version="l2")).SerializeToString())
    (tmp_path / "new.onnx").replace(lsst)
    new = watcher.poll()
    assert (
        new is not None
        and new.by_survey["lsst"].info.version == "l2"
        and new.by_survey["ztf"].info.version == "z1"
    )
    assert new.previous is not None and new.previous.by_survey["lsst"].info.version == "l1"
    watcher.rolled_back(new.previous.without_previous())
    assert watcher.current.by_survey["lsst"].info.version == "l1"


def test_a_reload_that_drops_a_named_survey_is_refused(tmp_path: Path) -> None:
    lsst = write_tiny_model(tmp_path / "lsst.onnx", tiny_info(version="l1"))
    plan = ModelPlan(None, {"lsst": lsst})
    metrics = Metrics(CollectorRegistry())
    current = ModelSet.from_plan(plan, {lsst: Scorer.load(lsst, "cpu", 1)})
    watcher = ModelSetWatcher(plan, current, "cpu", metrics=metrics, intra_op_threads=1, admit=LENIENT)
    (tmp_path / "new.onnx").write_bytes(
        tiny_model(tiny_info(version="l2", surveys=("ztf",))).SerializeToString()
    )
    (tmp_path / "new.onnx").replace(lsst)
    assert watcher.poll() is None and watcher.current is current
    assert metrics.registry.get_sample_value("rbc_model_reloads_total", {"outcome": "refused"}) == 1.0


def test_hot_reload_refuses_an_ungated_model(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "m.onnx", tiny_info(version="v1"))
    plan = ModelPlan(path)
    current = ModelSet.from_plan(plan, {path: Scorer.load(path, "cpu", 1)})
    watcher = ModelSetWatcher(plan, current, "cpu", intra_op_threads=1, admit=LENIENT)
    (tmp_path / "new.onnx").write_bytes(tiny_model(tiny_info(version="v2", gated=False)).SerializeToString())
    (tmp_path / "new.onnx").replace(path)
    assert watcher.poll() is None and watcher.current.primary.info.version == "v1"


def test_a_clean_batch_after_a_reload_is_counted_once(scorer: Scorer) -> None:
    metrics = Metrics(CollectorRegistry())
    models = _after_reload(scorer, scorer)
    _, serving = _score(models, [make_alert(i) for i in range(4)], metrics)
    get = metrics.registry.get_sample_value
    scored = sum(
        get("rbc_alerts_scored_total", {"survey": "ztf", "decision": d}) or 0
        for d in ("real", "bogus", "uncertain")
    )
    assert serving is models and scored == 4.0 and get("rbc_batch_size_alerts_count") == 1.0
