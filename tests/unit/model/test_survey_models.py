"""One model per survey: plans, unscored surveys, per-survey policies, mixed preprocessing versions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from rbc1000.alerts.sources import iter_alerts
from rbc1000.model.decisions import Prepared, ScoredAlert, decide, score_batch
from rbc1000.model.policy import ModelPolicy, SurveyEvaluation, SurveyPolicy
from rbc1000.model.preprocessing import PP_V1, PP_V2, triplet_from_cutouts
from rbc1000.model.scoring import Scorer
from rbc1000.model.survey_models import ModelPlan, ModelSet, PlanError
from rbc1000.ops.metrics import Metrics
from tests.support.model_factory import tiny_info, write_tiny_model
from tests.support.synthetic_alerts import make_alert

VENDORED = Path(__file__).parents[2] / "data" / "alerts"


def _load(tmp_path: Path, name: str, **info: object) -> Scorer:
    return Scorer.load(write_tiny_model(tmp_path / name, tiny_info(**info)), "cpu", 1)  # type: ignore[arg-type]


def test_a_legacy_model_judges_ztf_only_and_rubin_alerts_get_no_verdict(tmp_path: Path) -> None:
    legacy = _load(tmp_path, "legacy.onnx", surveys=())  # no rbc.policy, as 0.1.0 and 0.2.0
    assert legacy.info.serving_policy().legacy and list(legacy.info.serving_policy().surveys) == ["ztf"]
    results = [r.result for r in iter_alerts([VENDORED])]
    metrics = Metrics(CollectorRegistry())
    outcomes = score_batch(results, legacy, metrics=metrics)
    lsst = [o for o in outcomes if isinstance(o, ScoredAlert) and o.alert.survey == "lsst"]
    assert len(lsst) == 5
    assert all(o.decision == "unscored" and o.p_real is None and o.model is None for o in lsst)
    assert all(
        o.decision != "unscored" for o in outcomes if isinstance(o, ScoredAlert) and o.alert.survey == "ztf"
    )
    get = metrics.registry.get_sample_value
    assert get("rbc_alerts_unscored_total", {"survey": "lsst"}) == 5.0
    assert (
        sum(
            get("rbc_alerts_scored_total", {"survey": "lsst", "decision": d}) or 0
            for d in ("real", "bogus", "uncertain")
        )
        == 0
    )


def test_plan_assigns_named_surveys_and_the_bare_model_the_rest(tmp_path: Path) -> None:
    every = _load(tmp_path, "every.onnx", version="every")
    lsst = _load(tmp_path, "lsst.onnx", version="lsst", surveys=("lsst",))
    plan = ModelPlan(tmp_path / "every.onnx", {"lsst": tmp_path / "lsst.onnx"})
    models = ModelSet.from_plan(plan, {tmp_path / "every.onnx": every, tmp_path / "lsst.onnx": lsst})
    assert {s: m.info.version for s, m in models.by_survey.items()} == {
        "ztf": "every",
        "lsst": "lsst",
        "wfst": "every",
    }
    assert models.primary is every and len(models.scorers()) == 2


def test_surveys_may_share_one_file_and_others_stay_unjudged(tmp_path: Path) -> None:
    both = _load(tmp_path, "both.onnx")
    plan = ModelPlan(None, {"ztf": tmp_path / "both.onnx", "lsst": tmp_path / "both.onnx"})
    assert plan.paths() == [tmp_path / "both.onnx"]
    models = ModelSet.from_plan(plan, {tmp_path / "both.onnx": both})
    assert set(models.by_survey) == {"ztf", "lsst"} and models.for_survey("wfst") is None


def test_a_model_is_never_put_in_front_of_a_survey_it_does_not_declare(tmp_path: Path) -> None:
    ztf_only = _load(tmp_path, "z.onnx", surveys=())  # legacy: ZTF only
    plan = ModelPlan(None, {"lsst": tmp_path / "z.onnx"})
    with pytest.raises(PlanError, match="not validated for lsst: its policy declares ztf"):
        ModelSet.from_plan(plan, {tmp_path / "z.onnx": ztf_only})
    with pytest.raises(PlanError, match="unknown survey decam"):
        ModelPlan(None, {"decam": tmp_path / "z.onnx"})


def test_each_survey_is_decided_by_its_own_policy(tmp_path: Path) -> None:
    evaluation = SurveyEvaluation("s", "f", 10, "proxy")
    policy = ModelPolicy(
        {
            "ztf": SurveyPolicy(0.5, (0.4, 0.6), evaluation),
            "lsst": SurveyPolicy(0.9, (0.85, 0.95), evaluation),
        }
    )
    assert decide(0.7, policy.surveys["ztf"]) == "real"
    assert decide(0.7, policy.surveys["lsst"]) == "bogus"
    assert decide(0.9, policy.surveys["lsst"]) == "uncertain"


def test_models_of_two_preprocessing_versions_each_get_their_own_triplets(tmp_path: Path) -> None:
    ztf = _load(tmp_path, "v2.onnx", surveys=("ztf",), preprocessing_version=PP_V2)
    lsst = _load(tmp_path, "v1.onnx", surveys=("lsst",), preprocessing_version=PP_V1)
    plan = ModelPlan(None, {"ztf": tmp_path / "v2.onnx", "lsst": tmp_path / "v1.onnx"})
    models = ModelSet.from_plan(plan, {tmp_path / "v2.onnx": ztf, tmp_path / "v1.onnx": lsst})
    alerts = [make_alert(1), make_alert(2, survey="lsst"), make_alert(3)]
    prepared = Prepared(np.stack([triplet_from_cutouts(a.cutouts, PP_V2) for a in alerts]), [0, 1, 2], PP_V2)
    out = score_batch(alerts, models, prepared=prepared)
    expected = [
        ztf.score(triplet_from_cutouts(alerts[0].cutouts, PP_V2)[None])[0],
        lsst.score(triplet_from_cutouts(alerts[1].cutouts, PP_V1)[None])[0],
        ztf.score(triplet_from_cutouts(alerts[2].cutouts, PP_V2)[None])[0],
    ]
    assert [o.p_real for o in out if isinstance(o, ScoredAlert)] == pytest.approx(expected)
    assert [o.model.preprocessing_version for o in out if isinstance(o, ScoredAlert) and o.model] == [
        PP_V2,
        PP_V1,
        PP_V2,
    ]
