"""Calibrate, choose each survey's policy and gate an exported graph: one path for every export.

`validate_model` takes the uncalibrated graph (already checked against PyTorch) and each
declared survey's held-out real alerts, and returns the graph to ship:

1. every survey's alerts are split by object into a calibration and an evaluation half
   (`holdout.split_by_object`); a survey whose halves lack real or bogus alerts is refused;
2. temperature scaling (with a bias term unless told otherwise) is fitted on the calibration
   halves of all declared surveys together and appended to the graph (`graph`), checked
   against numpy within `CALIBRATION_TOLERANCE`;
3. each survey's threshold and band follow the stated rule (`policy_choice`) and are
   evaluated on the evaluation half, with the reference histogram for drift;
4. the gate (`export_gate`) decides on the evaluation halves;
5. the metadata gets the policy (`rbc.policy`, plus the global threshold and band of ZTF,
   or of the first survey) and the gate (`rbc.gate`), written with the service's helpers.

`rbc-train export` and the retraining job's challengers both come through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import onnx

from rbc1000.model.contract import INPUT_NAME, OUTPUT_NAME, ModelInfo
from rbc1000.model.gate import GateRecord, gate_metadata
from rbc1000.model.policy import Calibration, ModelPolicy, SurveyPolicy, policy_metadata
from rbc1000.train.calibration.export_gate import export_gate
from rbc1000.train.calibration.graph import append_calibration
from rbc1000.train.calibration.holdout import (
    SurveyAlerts,
    SurveyRefused,
    check_halves,
    fingerprint,
    split_by_object,
)
from rbc1000.train.calibration.policy_choice import Halves, PolicyRule, survey_policy
from rbc1000.train.calibration.temperature import TemperatureFit, expected_calibration_error, fit_temperature

CALIBRATION_TOLERANCE = 1e-5


class ValidationError(RuntimeError):
    """The calibrated graph disagrees with the fitted calibration."""


@dataclass(frozen=True)
class Validated:
    """The graph to ship, what it declares, and the report behind it."""

    model: onnx.ModelProto
    info: ModelInfo
    policy: ModelPolicy | None
    gate: GateRecord
    report: dict[str, Any] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # survey -> why it is not declared


def score(model: onnx.ModelProto, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """p_real of `model` on triplets `x` through ONNX Runtime (CPU)."""
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    parts = [
        session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x[i : i + batch], np.float32)})[0]
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(parts).astype(np.float32) if parts else np.empty(0, np.float32)


def _halves(
    model: onnx.ModelProto, surveys: list[SurveyAlerts], strict: bool
) -> tuple[dict[str, Halves], dict[str, str]]:
    """Split and score every survey; refused ones raise (strict) or are returned with the reason."""
    halves: dict[str, Halves] = {}
    refused: dict[str, str] = {}
    for alerts in surveys:
        cal, ev = split_by_object(alerts.y, alerts.objects())
        try:
            check_halves(alerts, cal, ev)
        except SurveyRefused as exc:
            if strict:
                raise
            refused[alerts.survey] = str(exc)
            continue
        p = score(model, alerts.x)
        halves[alerts.survey] = Halves(cal, ev, p, p)
    return halves, refused


def validate_model(
    model: onnx.ModelProto,
    info: ModelInfo,
    surveys: list[SurveyAlerts],
    rule: PolicyRule | None = None,
    bias: bool = True,
    strict: bool = True,
) -> Validated:
    """See the module docstring; `strict` False drops surveys that cannot be validated."""
    rule = rule or PolicyRule()
    by_name = {a.survey: a for a in surveys}
    halves, refused = _halves(model, surveys, strict)
    if not halves:
        gate = export_gate({}, {}, {"refused_surveys": refused})
        return Validated(_with_metadata(model, info, None, gate), info, None, gate, {}, refused)
    fit = fit_temperature(
        np.concatenate([by_name[s].y[h.cal] for s, h in halves.items()]),
        np.concatenate([h.p_raw[h.cal] for h in halves.values()]),
        bias=bias,
    )
    calibrated = append_calibration(model, fit)
    for s, h in halves.items():
        halves[s] = replace(h, p_cal=_checked(calibrated, by_name[s].x, h.p_raw, fit))
    policies: dict[str, SurveyPolicy] = {}
    reports: dict[str, dict[str, Any]] = {}
    for s, h in halves.items():
        policies[s], reports[s] = survey_policy(by_name[s], h, rule)
    policy = ModelPolicy(surveys=policies, calibration=_calibration(fit, by_name, halves, bias))
    legacy = policies.get("ztf") or next(iter(policies.values()))
    info = replace(info, threshold=legacy.threshold, low_confidence=legacy.band)
    eval_ids = {s: by_name[s].ids[h.ev] for s, h in halves.items()}
    extra = {
        "calibration_fingerprint": policy.calibration.fingerprint if policy.calibration else "",
        "refused_surveys": refused,
    }
    gate = export_gate(reports, eval_ids, extra)
    report = {"calibration": _asdict(policy.calibration), "rule": rule.describe(), "surveys": reports}
    return Validated(_with_metadata(calibrated, info, policy, gate), info, policy, gate, report, refused)


def _checked(model: onnx.ModelProto, x: np.ndarray, p_raw: np.ndarray, fit: TemperatureFit) -> np.ndarray:
    got = score(model, x)
    want = fit.apply(p_raw)
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    if not diff <= CALIBRATION_TOLERANCE:
        raise ValidationError(f"the calibrated graph differs from the fitted calibration by {diff:.2e}")
    return got


def _calibration(
    fit: TemperatureFit, alerts: dict[str, SurveyAlerts], halves: dict[str, Halves], bias: bool
) -> Calibration:
    """The calibration record: fitted on the calibration halves, ECE measured on the evaluation halves."""
    cal_ids = np.concatenate([alerts[s].ids[h.cal] for s, h in halves.items()])
    y_ev = np.concatenate([alerts[s].y[h.ev] for s, h in halves.items()])
    raw_ev = np.concatenate([h.p_raw[h.ev] for h in halves.values()])
    cal_ev = np.concatenate([h.p_cal[h.ev] for h in halves.values()])
    names = "; ".join(f"{alerts[s].set_name}; calibration half by object" for s in halves)
    per_survey = {
        s: {
            "calibration_fingerprint": fingerprint(alerts[s].ids[h.cal]),
            "calibration_n": int(h.cal.size),
            "evaluation_fingerprint": fingerprint(alerts[s].ids[h.ev]),
            "evaluation_n": int(h.ev.size),
        }
        for s, h in halves.items()
    }
    return Calibration(
        method="temperature" if not bias else "temperature+bias",
        set_name=names,
        fingerprint=fingerprint(cal_ids),
        n=int(cal_ids.size),
        labels="; ".join(sorted({alerts[s].labels for s in halves})),
        ece_before=expected_calibration_error(y_ev, raw_ev),
        ece_after=expected_calibration_error(y_ev, cal_ev),
        params={**fit.params(), "ece_measured_on": "evaluation halves", "halves": per_survey},
    )


def _asdict(calibration: Calibration | None) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(calibration) if calibration else {}


def _with_metadata(
    model: onnx.ModelProto, info: ModelInfo, policy: ModelPolicy | None, gate: GateRecord
) -> onnx.ModelProto:
    """`model` with the contract metadata of `info`, the policy and the gate; checked."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    entries = {**{p.key: p.value for p in model.metadata_props}, **info.to_metadata()}
    if policy is not None:
        entries.update(policy_metadata(policy))
    entries.update(gate_metadata(gate))
    del out.metadata_props[:]
    for key, value in entries.items():
        entry = out.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(out, full_check=True)
    return out


__all__ = ["SurveyRefused", "Validated", "ValidationError", "score", "validate_model"]
