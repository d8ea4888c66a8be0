"""`rbc-train export RUN_DIR --out model.onnx`: a run's model in the service's ONNX contract."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of the export command."""
    parser.description = (
        "Export a finished run's model to ONNX (input 'triplets' float32 [N,3,63,63], output "
        "'p_real' float32 [N], dynamic batch), check it with onnx.checker and against PyTorch on "
        "up to 256 test samples (max abs difference <= 1e-4), and write the metadata the service "
        "reads: name, version, preprocessing version, dataset fingerprint, test metrics, and a "
        "decision threshold and low-confidence band chosen on the stage's validation data."
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
        help="share of validation decisions outside the low-confidence band "
        "that must be right (default 0.95)",
    )
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
    """Export and report the parity figure."""
    import numpy as np
    import torch

    from rbc1000.model.contract import ModelInfo
    from rbc1000.train.method.config import load_config
    from rbc1000.train.method.stages import PARITY_FILE
    from rbc1000.train.nn.export import (
        ExportError,
        choose_band,
        choose_threshold,
        export_model,
        metrics_json,
    )
    from rbc1000.train.nn.networks import build_model

    try:
        stage_path = _pick_stage(args.run_dir, args.stage)
    except FileNotFoundError as exc:
        print(f"rbc-train export: {exc}", file=sys.stderr)
        return 2
    checkpoint = torch.load(stage_path / "model.pt", map_location="cpu")
    net = build_model(checkpoint["model"])
    net.load_state_dict(checkpoint["state"])
    stage = json.loads((stage_path / "stage.json").read_text())
    env = json.loads((args.run_dir / "environment.json").read_text())
    scores = np.load(stage_path / "scores.npz")
    threshold = choose_threshold(scores["val_y"], scores["val_p"])
    band = choose_band(scores["val_y"], scores["val_p"], threshold, args.band_purity)
    info = ModelInfo(
        name=args.name or f"rbc-{checkpoint['model']}",
        version=args.version or f"{args.run_dir.name}-{stage['key']}",
        preprocessing_version=load_config(args.run_dir / "config.yaml", {}).preprocessing,
        threshold=threshold,
        low_confidence=band,
        dataset_fingerprint=env["dataset_fingerprint"],
        label_source=args.label_source or f"dataset labels of {env['dataset_name']}",
        test_metrics_json=metrics_json(stage["test_metrics"], env["dataset_name"], stage["key"]),
    )
    try:
        diff = export_model(net, info, np.load(args.run_dir / PARITY_FILE), args.out)
    except ExportError as exc:
        print(f"rbc-train export: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) from stage "
        f"{stage['label']}: threshold {threshold:.4f}, low-confidence band "
        f"[{band[0]:.4f}, {band[1]:.4f}], parity max |diff| {diff:.2e} on "
        f"{min(256, len(np.load(args.run_dir / PARITY_FILE)))} samples"
    )
    return _export_fp16(args, np.load(args.run_dir / PARITY_FILE)) if args.fp16 else 0


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
