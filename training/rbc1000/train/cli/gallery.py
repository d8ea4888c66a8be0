"""`rbc-train gallery PATH --out grid.png`: look at the data before training on it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rbc1000.train.data.loaders import SPEC_HELP, DatasetError, load_dataset
from rbc1000.train.report.dataset_gallery import render_gallery


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Render a PNG grid with one row per class and family: science, reference and "
        "difference of a few seeded random examples, each panel zscale-stretched. " + SPEC_HELP
    )
    parser.add_argument("dataset", metavar="PATH", help="dataset spec")
    parser.add_argument("--out", type=Path, default=Path("gallery.png"), help="PNG to write")
    parser.add_argument("--per-group", type=int, default=4, help="examples per row (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="which examples (default 0)")
    parser.add_argument("--split", default=None, help="draw only from this split (test, pool)")


def run(args: argparse.Namespace) -> int:
    try:
        dataset = load_dataset(args.dataset, progress=True)
        if args.split:
            dataset = dataset.split(args.split)
        path = render_gallery(dataset, args.out, args.per_group, args.seed)
    except (DatasetError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"rbc-train gallery: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
