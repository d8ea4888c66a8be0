"""`rbc-train evaluate MODEL.onnx DATASET`: the stage-table metrics of an exported model.

Triplets are made with the preprocessing version the model declares. When the evaluated
samples include real alerts (`proxy:` or `alerts:` datasets), a second table puts the model's
ROC-AUC beside that of the packets' own rb and drb scores on the same alerts, with bootstrap
95% intervals (`rbc1000.train.report.real_alerts`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rbc1000.ops.cli_flags import UsageError

if TYPE_CHECKING:
    from rbc1000.model.contract import ModelInfo
    from rbc1000.train.data.dataset import TripletDataset


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
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=2000,
        help="bootstrap resamples for the real-alert ROC-AUC intervals (default 2000)",
    )
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

    from rbc1000.train.report.paper_metrics import compute_metrics, family_recall, jsonable
    from rbc1000.train.report.real_alerts import summary_markdown

    info = _model_info(args.model)
    part = _evaluation_set(args, info.preprocessing_version)
    p = np.asarray(score_onnx(args.model, part.x, args.batch_size))
    metrics = jsonable(compute_metrics(part.y, np.nan_to_num(p, nan=0.0), args.threshold))
    recall = family_recall(part.y, p, part.family, args.threshold)
    print(_table(args, part, info, metrics))
    print(_recall_markdown(recall))
    real = _real_alerts(args, part, p)
    if real is not None:
        print(summary_markdown(real, f"{info.name} {info.version}"))
    if args.json:
        summary = {
            "model": str(args.model),
            "model_version": info.version,
            "preprocessing": info.preprocessing_version,
            "dataset": part.name,
            "split": args.split,
            "n": len(part),
            "proxy_labels": bool(part.proxy.any()),
            "metrics": metrics,
            "family_recall": recall,
            "real_alerts": real,
        }
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


def _recall_markdown(recall: dict[str, float]) -> str:
    rows = [f"| {name} | {100 * value:.1f} |" for name, value in recall.items()]
    return "\n".join(["| Family | recall % |", "|---|---|", *rows]) + "\n"


def _real_alerts(args: argparse.Namespace, part: TripletDataset, p: Any) -> dict[str, Any] | None:
    """The real-alert summary (model beside rb and drb) when the datasets name alert packets."""
    from rbc1000.train.data.loaders import parse_spec
    from rbc1000.train.report.real_alerts import alert_facts, real_alert_summary

    paths = [path for spec in args.datasets for path in _alert_paths(parse_spec(spec))]
    if not paths:
        return None
    facts = alert_facts(paths)
    if not any(str(i) in facts for i in part.ids):
        return None
    return real_alert_summary(part.ids, part.y, p, facts, args.threshold, args.bootstrap)


def _alert_paths(parsed: tuple[str, list[Path], dict[str, str]]) -> list[Path]:
    kind, paths, _ = parsed
    return paths if kind in ("proxy", "alerts") else []


def _model_info(model: Path) -> ModelInfo:
    """The contract metadata of an exported model; a usage error when it has none."""
    import onnx

    from rbc1000.model.contract import ContractError, ModelInfo

    if not model.is_file():
        raise UsageError(f"no model at {model}")
    try:
        meta = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
        return ModelInfo.from_metadata(meta)
    except ContractError as exc:
        raise UsageError(str(exc)) from None


def _evaluation_set(args: argparse.Namespace, preprocessing: str) -> TripletDataset:
    """The split asked for, narrowed to proxy labels and to samples a run never saw if asked."""
    import numpy as np

    from rbc1000.train.data.loaders import DatasetError
    from rbc1000.train.method.run_data import ensure_splits, load_datasets, trained_ids

    try:
        ds = ensure_splits(load_datasets(args.datasets, preprocessing))
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    part = ds if args.split == "all" else ds.split(args.split)
    if args.proxy_only:
        part = part.subset(np.flatnonzero(part.proxy), f"{part.name}:proxy-labelled")
    if args.unseen_by is None:
        return part
    if not (args.unseen_by / "config.yaml").is_file():
        raise UsageError(f"{args.unseen_by} is not a run directory (no config.yaml)")
    try:
        seen = trained_ids(args.unseen_by, (args.datasets, ds))
    except (DatasetError, ValueError) as exc:
        raise UsageError(f"cannot rebuild the samples {args.unseen_by} trained on: {exc}") from None
    unseen = np.array([i not in seen for i in part.ids.astype(str)], dtype=bool)
    return part.subset(np.flatnonzero(unseen), f"{part.name}:unseen-by-{args.unseen_by.name}")


def _table(args: argparse.Namespace, part: TripletDataset, info: ModelInfo, metrics: dict[str, Any]) -> str:
    """The Markdown table: this evaluation, then what the model recorded at export."""
    from rbc1000.train.report.run_report import table_markdown

    n_proxy = int(part.proxy.sum())
    proxy = f" ({n_proxy} of them with PROXY labels from ZTF drb)" if n_proxy else ""
    rows = [(f"{info.name} {info.version}", metrics)]
    recorded = info.test_metrics()
    if recorded:
        rows.append((f"recorded at export ({recorded.get('dataset', '?')})", recorded))
    title = (
        f"{part.name} split={args.split}, n={len(part)}, "
        f"real={int(part.y.sum())}, threshold={args.threshold}{proxy}"
    )
    return table_markdown(rows, title)
