"""Calibration baked into the graph, the split by object, the per-survey policy and the export gate,
on the real alerts vendored in tests/data (drb proxy labels) and on a miscalibrated score model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from rbc1000.model.contract import ModelInfo
from rbc1000.model.gate import gate_from_metadata
from rbc1000.model.policy import KEY_POLICY, ModelPolicy, PolicyError, policy_from_metadata
from rbc1000.model.preprocessing import PREPROCESSING_VERSION
from rbc1000.train.calibration.graph import RAW_OUTPUT, append_calibration
from rbc1000.train.calibration.holdout import (
    SurveyAlerts,
    SurveyRefused,
    check_halves,
    load_survey_alerts,
    parse_survey,
    split_by_object,
)
from rbc1000.train.calibration.policy_choice import PolicyRule
from rbc1000.train.calibration.temperature import (
    TemperatureFit,
    expected_calibration_error,
    fit_temperature,
    logit,
    sigmoid,
)
from rbc1000.train.calibration.validate import score, validate_model
from tests.support.model_factory import tiny_info, tiny_model


@pytest.fixture(scope="module")
def ztf(vendored_alerts: Path) -> SurveyAlerts:
    return load_survey_alerts("ztf", f"proxy:{vendored_alerts}", PREPROCESSING_VERSION)


def _meta(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def test_temperature_scaling_lowers_ece_on_alerts_it_was_not_fitted_on() -> None:
    # An overconfident, shifted score of a known probability: what a network trained on
    # class-weighted simulated data gives on real alerts.
    rng = np.random.default_rng(3)
    q = rng.beta(2.0, 1.0, 4000)
    y = (rng.random(q.size) < q).astype(np.int64)
    p = sigmoid(3.0 * logit(q) - 1.5).astype(np.float32)
    fit = fit_temperature(y[:2000], p[:2000])
    before = expected_calibration_error(y[2000:], p[2000:])
    after = expected_calibration_error(y[2000:], fit.apply(p[2000:]))
    assert before > 0.1 and after < before / 3
    assert fit.temperature == pytest.approx(3.0, rel=0.15) and fit.bias == pytest.approx(0.5, abs=0.15)
    assert fit_temperature(y, p, bias=False).bias == 0.0
    with pytest.raises(ValueError, match="both classes"):
        fit_temperature(np.ones(5, dtype=np.int64), p[:5])


def test_calibrated_graph_is_the_fit_applied_to_the_uncalibrated_one(ztf: SurveyAlerts) -> None:
    raw = tiny_model(tiny_info(), scale=4.0)
    fit = TemperatureFit(temperature=1.7, bias=-0.4)
    calibrated = append_calibration(raw, fit)
    assert [i.name for i in calibrated.graph.input] == ["triplets"]
    assert [o.name for o in calibrated.graph.output] == ["p_real"]
    dim = calibrated.graph.output[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "N"
    p, q = score(raw, ztf.x), score(calibrated, ztf.x)
    assert q.dtype == np.float32 and q.shape == p.shape
    want = 1.0 / (1.0 + np.exp(-(np.log(p.astype(np.float64)) - np.log1p(-p.astype(np.float64))) / 1.7 + 0.4))
    assert np.abs(q - want).max() <= 1e-5
    assert np.abs(q - p).max() > 0.05  # it did change the scores
    for batch in (1, 7):
        assert score(calibrated, ztf.x[:batch]).shape == (batch,)
    assert any(RAW_OUTPUT in node.output for node in calibrated.graph.node)
    with pytest.raises(ValueError, match="already calibrated"):
        append_calibration(calibrated, fit)


def test_split_is_by_object_stratified_and_deterministic() -> None:
    objects = np.array([f"ZTF{i // 3}" for i in range(60)])  # three alerts per object
    y = np.array([int(i // 3 % 4 != 0) for i in range(60)])
    cal, ev = split_by_object(y, objects)
    assert set(objects[cal]).isdisjoint(objects[ev])
    assert sorted([*cal, *ev]) == list(range(60))
    assert abs(int(y[cal].sum()) - int(y[ev].sum())) <= 3 and 0 < (y[cal] == 0).sum() < 15
    again = split_by_object(y[::-1], objects[::-1])
    assert set(objects[::-1][again[0]]) == set(objects[cal])


def test_policy_band_straddles_the_threshold_and_surveys_need_their_own_alerts(ztf: SurveyAlerts) -> None:
    overconfident = tiny_model(tiny_info(), scale=4.0)
    validated = validate_model(overconfident, tiny_info(), [ztf], PolicyRule(bootstrap=50))
    policy = validated.policy
    assert policy is not None and set(policy.surveys) == {"ztf"}
    # ECE on the evaluation half, which the fit never saw (the tiny model ranks these real
    # alerts poorly, so the calibration mostly learns how often they are real).
    assert policy.calibration is not None and policy.calibration.ece_after < policy.calibration.ece_before
    ztf_policy = policy.surveys["ztf"]
    low, high = ztf_policy.band
    assert low < ztf_policy.threshold < high
    assert ztf_policy.evaluation.labels == "proxy: drb >= 0.9 real, <= 0.1 bogus"
    assert ztf_policy.evaluation.n + (policy.calibration.n if policy.calibration else 0) == ztf.y.size
    assert sum(ztf_policy.reference_counts) == ztf_policy.evaluation.n
    meta = _meta(validated.model)
    read = policy_from_metadata(meta, 0.0, (0.0, 0.0))
    assert not read.legacy and read.surveys["ztf"].band == (low, high)
    info = ModelInfo.from_metadata(meta)  # the legacy keys follow the ZTF policy
    assert (info.threshold, info.low_confidence) == (ztf_policy.threshold, ztf_policy.band)
    bad = ModelPolicy.from_json(meta[KEY_POLICY]).surveys["ztf"]
    with pytest.raises(PolicyError, match="low"):
        type(bad)(threshold=0.5, band=(0.5, 0.8), evaluation=bad.evaluation).check("ztf")
    lsst = SurveyAlerts("lsst", "lsst: none", "none", ztf.ids[:0], ztf.x[:0], ztf.y[:0])
    with pytest.raises(SurveyRefused, match="no labelled lsst alerts"):
        validate_model(tiny_model(tiny_info()), tiny_info(), [ztf, lsst], PolicyRule(bootstrap=50))
    with pytest.raises(SurveyRefused, match="no alerts given"):
        parse_survey("lsst=")
    one_class = SurveyAlerts("ztf", "x", "x", ztf.ids, ztf.x, np.ones_like(ztf.y))
    with pytest.raises(SurveyRefused, match="both halves"):
        check_halves(one_class, *split_by_object(one_class.y, one_class.objects()))


def test_gate_refuses_a_worse_than_random_model(ztf: SurveyAlerts) -> None:
    # Labels the tiny model ranks exactly backwards: its scores are below the median on the
    # alerts labelled real, so on these alerts it is worse than random.
    model = tiny_model(tiny_info(), scale=1.5)
    p = score(model, ztf.x)
    y = (p < np.median(p)).astype(np.int64)
    inverted = SurveyAlerts("ztf", "ztf: inverted labels", "test labels", ztf.ids, ztf.x, y)
    validated = validate_model(model, tiny_info(), [inverted], PolicyRule(bootstrap=200))
    assert validated.gate.passed is False
    assert validated.gate.challenger["ROC_AUC"]["value"] < 0.5
    assert any("failed" in reason for reason in validated.gate.reasons)
    gate = gate_from_metadata(_meta(validated.model))
    assert gate is not None and gate.passed is False and gate.rule.floor == 0.5
    assert gate.evaluation_per_survey == {"ztf": validated.policy.surveys["ztf"].evaluation.n}  # type: ignore[union-attr]

    agreeing = SurveyAlerts("ztf", "ztf: agreeing labels", "test labels", ztf.ids, ztf.x, 1 - y)
    good = validate_model(model, tiny_info(), [agreeing], PolicyRule(bootstrap=200))
    assert good.gate.passed is True and good.gate.challenger["ROC_AUC"]["value"] == 1.0
