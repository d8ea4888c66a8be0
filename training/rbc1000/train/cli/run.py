"""`rbc-train run`: the ITS -> selection -> ALS -> SSLS x R pipeline on one or more datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rbc1000.train.method.config import add_config_flags, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags: --config YAML plus one flag per RunConfig field."""
    parser.description = (
        "Train RB-C1000 stage by stage (ITS on M labels, K expert labels chosen by uncertainty, "
        "ALS, then R rounds of pseudo-labelling) and write a run directory with checkpoints, "
        "per-epoch history, the stage table (table.md, table.json) and a PNG report. "
        "Re-running with the same --run-dir resumes after the last finished stage. "
        "Example: rbc-train run --config training/configs/quick.yaml --datasets /data/sim-small"
    )
    add_config_flags(parser)


def run(args: argparse.Namespace) -> int:
    """Run the pipeline and print the stage table."""
    from rbc1000.train.data.loaders import DatasetError
    from rbc1000.train.method.stages import run_pipeline
    from rbc1000.train.report.run_report import write_report

    cfg = load_config(args.config, vars(args))  # a SettingsError exits 2 through the dispatcher
    try:
        run_pipeline(cfg)
    except (DatasetError, ValueError) as exc:
        # Bad inputs (unreadable dataset, pool too small, run dir of another run): say which.
        print(f"rbc-train run: {exc}", file=sys.stderr)
        return 2
    print(write_report(Path(cfg.run_dir), cfg.select_metric))
    print(
        f"run directory: {cfg.run_dir} (report.md, table.md, plots/); "
        f"export with: rbc-train export {cfg.run_dir} --out model.onnx"
    )
    return 0
