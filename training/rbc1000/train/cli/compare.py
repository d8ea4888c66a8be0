"""`rbc-train compare RUN_DIR...`: one stage table across runs (seeds), with mean and spread.

Single runs at the label counts RB-C1000 works with move by several points of Sum from one
seed to the next, so claims about the method (does SSLS close the gap to full supervision?)
are read from several seeds side by side, which this prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rbc1000.train.report.run_report import label_efficiency, load_stages


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compare finished `rbc-train run` directories (typically the same config "
        "with different --seed): Sum per stage per run, mean and standard "
        "deviation, and the share of the ITS-to-full-supervision gap each run "
        "closes. Example: rbc-train compare runs/paper-cpu-s0 runs/paper-cpu-s1"
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories")
    parser.add_argument("--metric", default="Sum", help="test metric to tabulate (default Sum)")
    parser.add_argument("--out", type=Path, help="also write the Markdown here and JSON beside it")


def compare(runs: list[Path], metric: str = "Sum") -> dict[str, Any]:
    """{"runs", "stages": [{"stage", "values", "mean", "std"}], "gap_closed": [...]}."""
    tables = []
    for run in runs:
        stages = load_stages(run)
        if not stages:
            raise FileNotFoundError(f"{run} has no finished stage; is it an `rbc-train run` directory?")
        tables.append(stages)
    labels = [s["label"] for s in max(tables, key=len)]
    rows = []
    for label in labels:
        values = [next((_value(s, metric) for s in t if s["label"] == label), None) for t in tables]
        present = [v for v in values if v is not None]
        rows.append(
            {
                "stage": label,
                "values": values,
                "mean": float(np.mean(present)) if present else None,
                "std": float(np.std(present, ddof=1)) if len(present) > 1 else None,
            }
        )
    closed = [label_efficiency(t).get("gap_closed_fraction") for t in tables]
    return {"metric": metric, "runs": [str(r) for r in runs], "stages": rows, "gap_closed": closed}


def _value(stage: dict[str, Any], metric: str) -> float | None:
    value = stage["test_metrics"].get(metric)
    if value is None:
        return None
    return float(value) if metric == "Sum" else 100 * float(value)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def markdown(result: dict[str, Any]) -> str:
    names = [Path(r).name for r in result["runs"]]
    head = ["Stage", *names, "mean", "std"]
    lines = [
        f"**Test {result['metric']} per stage and run**",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in result["stages"]:
        cells = [row["stage"], *map(_fmt, row["values"]), _fmt(row["mean"]), _fmt(row["std"])]
        lines.append("| " + " | ".join(cells) + " |")
    closed = result["gap_closed"]
    if any(c is not None for c in closed):
        shares = ", ".join("n/a" if c is None else f"{100 * c:.0f}%" for c in closed)
        known = [c for c in closed if c is not None]
        lines += [
            "",
            f"Share of the ITS-to-full-supervision gap in Sum closed by the final stage: "
            f"{shares} (mean {100 * float(np.mean(known)):.0f}%).",
        ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    try:
        result = compare(args.runs, args.metric)
    except FileNotFoundError as exc:
        print(f"rbc-train compare: {exc}", file=sys.stderr)
        return 2
    md = markdown(result)
    print(md)
    if args.out:
        args.out.write_text(md)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    return 0
