"""`rbc-train`: the offline training command line."""

from __future__ import annotations

import sys

from rbc1000.cli.dispatch import dispatch

COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("rbc1000.train.cli.simulate", "build a labelled simulated dataset from real alert stamps"),
    "dataset-info": ("rbc1000.train.cli.dataset_info", "print counts, classes, families and NaN statistics"),
    "gallery": ("rbc1000.train.cli.gallery", "render a PNG grid of triplets per class and family"),
    "run": ("rbc1000.train.cli.run", "run the ITS, ALS and SSLS stages and write a run directory"),
    "compare": ("rbc1000.train.cli.compare", "tabulate runs (seeds) side by side: mean, spread, gap closed"),
    "export": ("rbc1000.train.cli.export", "export a run's final model to ONNX with its metadata"),
    "evaluate": ("rbc1000.train.cli.evaluate", "evaluate an ONNX model on a dataset through ONNX Runtime"),
    "retrain": ("rbc1000.train.cli.retrain", "retrain on human labels; promote only past the gate"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch(
        "rbc-train",
        "Offline RB-C1000 training: datasets, the ITS/ALS/SSLS pipeline, ONNX export and evaluation.",
        COMMANDS,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
