"""`rbc-train evaluate MODEL.onnx DATASET`: the stage-table metrics of an exported model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of the evaluate command."""
    parser.description = (
        "Score a dataset's split with an exported ONNX model through ONNX Runtime and print the "
        "paper's metrics (threshold 0.5 unless --threshold; Sum in percent), plus the metrics "
        "the model recorded at export for comparison. Labels derived from ZTF drb are proxy "
        "labels: the table then measures agreement with drb, not truth."
    )
    parser.add_argument("model", type=Path, help="ONNX model exported by `rbc-train export`")
    parser.add_argument("datasets", nargs="+", help="dataset path(s), joined as in `run`")
    parser.add_argument(
        "--split",
        default="test",
        choices=["test", "pool", "all"],
        help="which part of the dataset to score (default: test)",
    )
    parser.add_argument(
        "--proxy-only",
        action="store_true",
        help="score only proxy-labelled samples (real alerts labelled by drb)",
    )
    parser.add_argument(
        "--unseen-by",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="score only samples (by id) that this run never trained on, "
        "labelled or pseudo-labelled; with --split all --proxy-only: "
        "every real alert the model behind RUN_DIR never saw",
    )
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="decision threshold (default 0.5, the paper's)"
    )
    parser.add_argument("--batch-size", type=int, default=512, help="inference batch size")
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics here")


def score_onnx(model: Path, x: object, batch_size: int = 512) -> object:
    """p_real for every triplet in x through ONNX Runtime."""
    import numpy as np
    import onnxruntime as ort
    from tqdm.auto import tqdm

    from rbc1000.model.contract import INPUT_NAME, OUTPUT_NAME

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    arr = np.asarray(x)
    out = [
        session.run([OUTPUT_NAME], {INPUT_NAME: arr[i : i + batch_size]})[0]
        for i in tqdm(range(0, len(arr), batch_size), desc="score", leave=False)
    ]
    return np.concatenate(out) if out else np.empty(0, dtype=np.float32)


def run(args: argparse.Namespace) -> int:
    """Print (and optionally save) the metrics table."""
    import numpy as np
    import onnx

    from rbc1000.model.contract import ContractError, ModelInfo
    from rbc1000.train.method.run_data import ensure_splits, load_datasets, trained_ids
    from rbc1000.train.report.paper_metrics import compute_metrics, jsonable
    from rbc1000.train.report.run_report import table_markdown

    if not args.model.is_file():
        print(f"rbc-train evaluate: no model at {args.model}", file=sys.stderr)
        return 2
    try:
        meta = {p.key: p.value for p in onnx.load(str(args.model), load_external_data=False).metadata_props}
        info = ModelInfo.from_metadata(meta)
    except ContractError as exc:
        print(f"rbc-train evaluate: {exc}", file=sys.stderr)
        return 2
    from rbc1000.train.data.loaders import DatasetError

    try:
        ds = ensure_splits(load_datasets(args.datasets))
    except DatasetError as exc:
        print(f"rbc-train evaluate: {exc}", file=sys.stderr)
        return 2
    part = ds if args.split == "all" else ds.split(args.split)
    if args.proxy_only:
        part = part.subset(np.flatnonzero(part.proxy), f"{part.name}:proxy-labelled")
    if args.unseen_by is not None:
        if not (args.unseen_by / "config.yaml").is_file():
            print(
                f"rbc-train evaluate: {args.unseen_by} is not a run directory (no config.yaml)",
                file=sys.stderr,
            )
            return 2
        try:
            seen = trained_ids(args.unseen_by, (args.datasets, ds))
        except (DatasetError, ValueError) as exc:
            print(
                f"rbc-train evaluate: cannot rebuild the samples {args.unseen_by} trained on: {exc}",
                file=sys.stderr,
            )
            return 2
        unseen = np.array([i not in seen for i in part.ids.astype(str)], dtype=bool)
        part = part.subset(np.flatnonzero(unseen), f"{part.name}:unseen-by-{args.unseen_by.name}")
    p = score_onnx(args.model, part.x, args.batch_size)
    metrics = jsonable(compute_metrics(part.y, np.asarray(p), args.threshold))
    n_proxy = int(part.proxy.sum())
    proxy = f" ({n_proxy} of them with PROXY labels from ZTF drb)" if n_proxy else ""
    rows = [(f"{info.name} {info.version}", metrics)]
    recorded = info.test_metrics()
    if recorded:
        rows.append((f"recorded at export ({recorded.get('dataset', '?')})", recorded))
    print(
        table_markdown(
            rows,
            f"{part.name} split={args.split}, n={len(part)}, "
            f"real={int(part.y.sum())}, threshold={args.threshold}{proxy}",
        )
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "model": str(args.model),
                    "dataset": part.name,
                    "split": args.split,
                    "n": len(part),
                    "proxy_labels": bool(part.proxy.any()),
                    "metrics": metrics,
                },
                indent=2,
            )
        )
    return 0
