"""`rbc-train export RUN_DIR --out model.onnx --survey ztf=SPEC`: a run's model, calibrated and gated.

Exit codes: 0 written; 1 a check failed (parity, calibration, or the gate: nothing written
unless `--allow-failed-gate`); 2 a usage error, including a survey declared without labelled
alerts of that survey to evaluate it on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from rbc1000.model.contract import ModelInfo
    from rbc1000.train.calibration.holdout import SurveyAlerts
    from rbc1000.train.calibration.policy_choice import PolicyRule
    from rbc1000.train.calibration.validate import Validated


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of the export command."""
    parser.description = (
        "Export a finished run's model to ONNX (input 'triplets' float32 [N,3,63,63], output "
        "'p_real' float32 [N], dynamic batch), check it with onnx.checker and against PyTorch on "
        "up to 256 test samples (max abs difference <= 1e-4), and write the metadata the service "
        "reads: name, version, preprocessing version, dataset fingerprint, test metrics, and a "
        "decision threshold and low-confidence band. With --survey NAME=SPEC (real labelled "
        "alerts of that survey; the ones the run never trained on are kept, split by object into "
        "a calibration and an evaluation half), temperature scaling is fitted on the calibration "
        "half and baked into the graph, each survey gets a threshold and labelling band by the "
        "stated rule, evaluated on the evaluation half (rbc.policy), and the gate (rbc.gate: the "
        "ROC-AUC bootstrap lower bound must exceed 0.5) decides whether the file is written."
    )
    parser.add_argument("run_dir", type=Path, help="run directory written by `rbc-train run`")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument(
        "--stage",
        default=None,
        help="stage key (its, als, ssls1, ..., full); default: the last SSLS stage (or the last stage run)",
    )
    parser.add_argument("--name", default=None, help="model name (default: rbc-<network>)")
    parser.add_argument("--version", default=None, help="model version (default: run + stage)")
    parser.add_argument(
        "--label-source", default=None, help="plain words on what labels the model learned from"
    )
    parser.add_argument(
        "--band-purity",
        type=float,
        default=0.95,
        help="for a model that declares no survey: share of validation decisions outside the "
        "low-confidence band that must be right (default 0.95)",
    )
    _validation_flags(parser)
    parser.add_argument(
        "--fp16",
        action="store_true",
        help="also write <out>.fp16.onnx (float16 body, float32 input and output), refused unless "
        "p_real stays within 1e-3 of FP32 and no real/bogus decision outside the band swaps",
    )
    parser.add_argument(
        "--fp16-alerts",
        nargs="+",
        type=Path,
        default=[],
        help="alert files or folders whose triplets join the run's test samples in the FP16 check",
    )


def _validation_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the calibration, per-survey policy and gate."""
    parser.add_argument(
        "--survey",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="declare survey NAME, validated on the labelled real alerts of dataset SPEC (as in "
        "`evaluate`, e.g. ztf=proxy:../shared/data?test_fraction=0.5); repeatable. Refused (exit 2) "
        "when SPEC holds no labelled NAME alerts unseen by the run, or a half lacks a class",
    )
    parser.add_argument(
        "--calibration",
        choices=["temperature+bias", "temperature"],
        default="temperature+bias",
        help="sigmoid(logit(p)/T + b) (default) or sigmoid(logit(p)/T), fitted by log loss",
    )
    parser.add_argument(
        "--policy-threshold",
        type=float,
        default=0.5,
        help="calibrated p_real from which an alert is real, for every declared survey (default 0.5)",
    )
    parser.add_argument(
        "--policy-band",
        default="0.2,0.8",
        metavar="LOW,HIGH",
        help="calibrated p_real range sent to labelling; must straddle the threshold (default 0.2,0.8)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=2000,
        help="bootstrap resamples for the ROC-AUC intervals (default 2000)",
    )
    parser.add_argument(
        "--allow-failed-gate",
        action="store_true",
        help="write the model even when the gate fails, recorded as passed=false (the service refuses it)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        help="also write the validation report (validation.json) and reliability diagrams (PNG) here",
    )


def _pick_stage(run_dir: Path, key: str | None) -> Path:
    stages = sorted(
        (d for d in (run_dir / "stages").glob("*_*") if (d / "stage.json").is_file()),
        key=lambda d: int(d.name.split("_", 1)[0]),
    )
    if not stages:
        raise FileNotFoundError(f"{run_dir} has no finished stage; run `rbc-train run` first")
    if key is None:
        chosen = [d for d in stages if not d.name.endswith("_full")] or stages
        return chosen[-1]
    for d in stages:
        if d.name.split("_", 1)[1] == key:
            return d
    raise FileNotFoundError(
        f"{run_dir} has no finished stage {key!r}; it has {[d.name.split('_', 1)[1] for d in stages]}"
    )


def run(args: argparse.Namespace) -> int:
    """Export, calibrate, gate; report the figures (exit codes: module docstring)."""
    from rbc1000.train.calibration.holdout import SurveyRefused

    try:
        stage_path = _pick_stage(args.run_dir, args.stage)
        rule = _rule(args)
        specs = [_parse_survey(text) for text in args.survey]
    except (FileNotFoundError, SurveyRefused, ValueError) as exc:
        print(f"rbc-train export: {exc}", file=sys.stderr)
        return 2
    try:
        return _export(args, stage_path, rule, specs)
    except SurveyRefused as exc:
        print(f"rbc-train export: {exc}", file=sys.stderr)
        return 2


def _parse_survey(text: str) -> tuple[str, str]:
    from rbc1000.train.calibration.holdout import parse_survey

    return parse_survey(text)


def _rule(args: argparse.Namespace) -> PolicyRule:
    from rbc1000.train.calibration.policy_choice import PolicyRule

    try:
        low, high = (float(v) for v in str(args.policy_band).split(","))
    except ValueError:
        raise ValueError(f"--policy-band {args.policy_band!r}: expected LOW,HIGH") from None
    if not 0.0 <= low < args.policy_threshold < high <= 1.0:
        raise ValueError(
            f"--policy-band [{low}, {high}] must straddle --policy-threshold {args.policy_threshold} "
            "on both sides within [0, 1]"
        )
    return PolicyRule(threshold=args.policy_threshold, band=(low, high), bootstrap=args.bootstrap)


def _export(
    args: argparse.Namespace, stage_path: Path, rule: PolicyRule, specs: list[tuple[str, str]]
) -> int:
    import numpy as np
    import onnx

    from rbc1000.train.calibration.validate import ValidationError, validate_model
    from rbc1000.train.method.stages import PARITY_FILE
    from rbc1000.train.nn.export import ExportError, checked_graph

    net, info, label = _network(args, stage_path)
    surveys = _surveys(args.run_dir, specs, info.preprocessing_version)
    parity_x = np.load(args.run_dir / PARITY_FILE)
    try:
        model, diff = checked_graph(net, info, parity_x)
        validated = validate_model(model, info, surveys, rule, bias=args.calibration == "temperature+bias")
    except (ExportError, ValidationError) as exc:
        print(f"rbc-train export: {exc}", file=sys.stderr)
        return 1
    gate = validated.gate
    if not gate.passed and not args.allow_failed_gate:
        print(f"rbc-train export: gate failed, nothing written: {'; '.join(gate.reasons)}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(validated.model, str(args.out))
    if args.report_dir is not None:
        _write_report(args.report_dir, validated)
    threshold, band = validated.info.threshold, validated.info.low_confidence
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) from stage {label}: "
        f"threshold {threshold:.4f}, low-confidence band [{band[0]:.4f}, {band[1]:.4f}], parity max "
        f"|diff| {diff:.2e} on {min(256, len(parity_x))} samples; gate "
        f"{'passed' if gate.passed else 'FAILED (written: --allow-failed-gate)'}: {'; '.join(gate.reasons)}"
    )
    _print_calibration(validated)
    return _export_fp16(args, parity_x) if args.fp16 else 0


def _network(args: argparse.Namespace, stage_path: Path) -> tuple[Any, ModelInfo, str]:
    """The stage's network and its metadata (threshold and band from validation data, for a model
    that declares no survey)."""
    import numpy as np
    import torch

    from rbc1000.model.contract import ModelInfo
    from rbc1000.train.method.config import load_config
    from rbc1000.train.nn.export import choose_band, choose_threshold, metrics_json
    from rbc1000.train.nn.networks import build_model

    checkpoint = torch.load(stage_path / "model.pt", map_location="cpu")
    net = build_model(checkpoint["model"])
    net.load_state_dict(checkpoint["state"])
    stage = json.loads((stage_path / "stage.json").read_text())
    env = json.loads((args.run_dir / "environment.json").read_text())
    scores = np.load(stage_path / "scores.npz")
    threshold = choose_threshold(scores["val_y"], scores["val_p"])
    info = ModelInfo(
        name=args.name or f"rbc-{checkpoint['model']}",
        version=args.version or f"{args.run_dir.name}-{stage['key']}",
        preprocessing_version=load_config(args.run_dir / "config.yaml", {}).preprocessing,
        threshold=threshold,
        low_confidence=choose_band(scores["val_y"], scores["val_p"], threshold, args.band_purity),
        dataset_fingerprint=env["dataset_fingerprint"],
        label_source=args.label_source or f"dataset labels of {env['dataset_name']}",
        test_metrics_json=metrics_json(stage["test_metrics"], env["dataset_name"], stage["key"]),
    )
    return net, info, str(stage["label"])


def _surveys(run_dir: Path, specs: list[tuple[str, str]], preprocessing: str) -> list[SurveyAlerts]:
    """Each declared survey's labelled alerts that the run never trained on."""
    from rbc1000.train.calibration.holdout import load_survey_alerts
    from rbc1000.train.method.run_data import trained_ids

    if not specs:
        return []
    seen = trained_ids(run_dir)
    return [load_survey_alerts(name, spec, preprocessing, seen) for name, spec in specs]


def _print_calibration(validated: Validated) -> None:
    cal = validated.policy.calibration if validated.policy else None
    if cal is None:
        print("no survey declared: p_real is the network's output, uncalibrated, and no policy is written")
        return
    params = json.dumps({k: cal.params[k] for k in ("temperature", "bias")})
    print(
        f"calibration {cal.method} {params} fitted on {cal.n} alerts ({cal.set_name}); "
        f"ECE on the evaluation halves {cal.ece_before:.4f} -> {cal.ece_after:.4f}"
    )
    for survey, policy in validated.policy.surveys.items() if validated.policy else ():
        m = policy.evaluation.metrics
        print(
            f"{survey}: threshold {policy.threshold}, band [{policy.band[0]}, {policy.band[1]}]; evaluation "
            f"half n={policy.evaluation.n} ({policy.evaluation.labels}): ROC-AUC {m['ROC_AUC']:.4f} "
            f"[{m['ROC_AUC_low']:.4f}, {m['ROC_AUC_high']:.4f}], band share {m['band_share']:.3f}"
        )


def _write_report(directory: Path, validated: Validated) -> None:
    from dataclasses import asdict

    from rbc1000.train.calibration.reliability_plot import plot_reliability
    from rbc1000.train.calibration.report import validation_markdown

    directory.mkdir(parents=True, exist_ok=True)
    body = {**validated.report, "gate": asdict(validated.gate), "refused": validated.refused}
    (directory / "validation.json").write_text(json.dumps(body, indent=2, default=float))
    (directory / "validation.md").write_text(
        validation_markdown(body, f"{validated.info.name} {validated.info.version}")
    )
    for survey in validated.report.get("surveys", {}):
        plot_reliability(validated.report, survey, directory / f"reliability-{survey}.png")


def _export_fp16(args: argparse.Namespace, parity_x: np.ndarray) -> int:
    """Write the FP16 variant of args.out, checked on the run's test samples and any alerts given."""
    import numpy as np

    from rbc1000.train.method.config import load_config
    from rbc1000.train.nn.fp16 import Fp16Error, alert_triplets, export_fp16

    version = load_config(args.run_dir / "config.yaml", {}).preprocessing
    alerts = alert_triplets(args.fp16_alerts, version=version) if args.fp16_alerts else None
    x = np.concatenate([parity_x[:256], alerts]) if alerts is not None else parity_x
    try:
        path, parity = export_fp16(args.out, x)
    except Fp16Error as exc:
        print(f"rbc-train export: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {path}: FP16 parity max |diff| {parity.max_abs_diff:.2e} on {parity.samples} "
        f"triplets, {parity.decision_changes} real/bogus swaps, {parity.band_moves} band-edge crossings"
    )
    return 0
