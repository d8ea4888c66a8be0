"""`rbc-train`: the offline training command line."""

from __future__ import annotations

import sys

from service.subcommands import dispatch

COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("training.simulate_cli", "build a labelled simulated dataset from real alert stamps"),
    "dataset-info": ("training.dataset_info_cli", "print counts, classes, families and NaN statistics"),
    "gallery": ("training.gallery_cli", "render a PNG grid of triplets per class and family"),
    "run": ("training.run_cli", "run the ITS, ALS and SSLS stages and write a run directory"),
    "compare": ("training.compare_cli", "tabulate runs (seeds) side by side: mean, spread, gap closed"),
    "export": ("training.export_cli", "export a run's final model to ONNX with its metadata"),
    "evaluate": ("training.evaluate_cli", "evaluate an ONNX model on a dataset through ONNX Runtime"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("rbc-train", "Offline RB-C1000 training: datasets, the ITS/ALS/SSLS pipeline, "
                    "ONNX export and evaluation.", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
