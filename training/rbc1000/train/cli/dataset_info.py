"""`rbc-train dataset-info PATH`: counts, class balance, families, shapes and NaN statistics."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from rbc1000.train.data.loaders import SPEC_HELP, DatasetError, LoadedDataset, load_dataset_report

CHANNELS = ("science", "reference", "difference")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Describe a labelled dataset: samples, class balance, families (and which labels are "
        "PROXY labels from ZTF's drb), splits, raw stamp shapes and NaN statistics, and the "
        "measured difficulty from its card. " + SPEC_HELP
    )
    parser.add_argument("dataset", metavar="PATH", help="dataset spec")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def describe(loaded: LoadedDataset) -> dict[str, Any]:
    """Everything `dataset-info` reports, as plain JSON-able values."""
    d = loaded.dataset
    families: dict[str, dict[str, int]] = {}
    for label, family, proxy in zip(d.y.tolist(), d.family.tolist(), d.proxy.tolist(), strict=True):
        row = families.setdefault(family or "(none)", {"real": 0, "bogus": 0, "proxy": 0})
        row["real" if label else "bogus"] += 1
        row["proxy"] += int(proxy)
    nan = loaded.nonfinite
    info: dict[str, Any] = {
        "name": d.name,
        "format": loaded.source_format,
        "samples": len(d),
        "x_shape": list(d.x.shape),
        "x_dtype": str(d.x.dtype),
        "fingerprint": d.fingerprint(),
        "real": int(d.y.sum()),
        "bogus": int(len(d) - d.y.sum()),
        "real_fraction": round(float(d.y.mean()), 4) if len(d) else None,
        "proxy_labelled": int(d.proxy.sum()),
        "families": families,
        "splits": {
            name: {"samples": len(idx), "real": int(d.y[idx].sum())} for name, idx in d.splits.items()
        },
        "raw_stamp_shapes": loaded.raw_shapes,
        "nan": {
            ch: {
                "stamps_with_nan": int((nan[:, i] > 0).sum()),
                "mean_nan_pixels": round(float(nan[:, i].mean()), 2) if len(nan) else 0.0,
                "max_nan_pixels": int(nan[:, i].max()) if len(nan) else 0,
            }
            for i, ch in enumerate(CHANNELS)
        },
        "skipped_inputs": loaded.skipped,
    }
    if loaded.card and loaded.card.get("measured_difficulty"):
        runs = loaded.card["measured_difficulty"].get("runs", {})
        info["measured_sum"] = {k: v["metrics"]["Sum"] for k, v in runs.items()}
    return info


def _print_text(info: dict[str, Any]) -> None:
    print(
        f"{info['name']} ({info['format']}): {info['samples']} samples, x {info['x_shape']} "
        f"{info['x_dtype']}, fingerprint {info['fingerprint']}"
    )
    print(
        f"classes: real {info['real']}, bogus {info['bogus']} (real fraction "
        f"{info['real_fraction']}); proxy-labelled (ZTF drb, not human): "
        f"{info['proxy_labelled']}"
    )
    print(f"{'family':<22}{'real':>8}{'bogus':>8}{'proxy':>8}")
    for family, row in sorted(info["families"].items()):
        print(f"{family:<22}{row['real']:>8}{row['bogus']:>8}{row['proxy']:>8}")
    for name, split in info["splits"].items():
        print(f"split {name}: {split['samples']} samples, {split['real']} real")
    print(f"raw stamp shapes: {info['raw_stamp_shapes']}")
    for channel, stats in info["nan"].items():
        print(
            f"NaN {channel:<10}: {stats['stamps_with_nan']} stamps with NaN, mean "
            f"{stats['mean_nan_pixels']} px, max {stats['max_nan_pixels']} px"
        )
    for reason, item in info["skipped_inputs"].items():
        print(f"skipped {reason}: {item['count']} (e.g. {item['example']})")
    if "measured_sum" in info:
        print(f"measured difficulty (Sum /600): {info['measured_sum']}")


def run(args: argparse.Namespace) -> int:
    try:
        loaded = load_dataset_report(args.dataset, progress=not args.json)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"rbc-train dataset-info: {exc}", file=sys.stderr)
        return 2
    info = describe(loaded)
    if args.json:
        print(json.dumps(info, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))
    else:
        _print_text(info)
    return 0
