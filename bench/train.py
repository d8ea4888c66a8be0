"""Training benchmark: compact vs resnet18-224 speed, per-stage wall times, the quality table.

"compact" in the keys is the project's default compact network (the `RunConfig.model` default,
compact-coord); `compact_model` in the output names it.

Prints ONE JSON object. Speeds are samples per second on this machine's CPU with the torch
thread count given (one by default, because the machine is shared), or on the GPU with
`--device cuda` (mixed precision, bfloat16 autocast, unless `--no-amp`); a training sample is one
forward + backward + Adam step inside a batch. The pipeline part runs `rbc-train run`'s code at
the scale given by the flags (`--quick`: a few minutes) and reports the stage table and times.
The model comparison trains both networks on the same labels, same epochs, same test samples,
once per seed (each seed draws its own labels and test subset), and reports paired differences:
one seed's Sum at 540 training labels moves by several points, so one seed decides nothing.

    .venv/bin/python bench/train.py --quick
    .venv/bin/python bench/train.py --dataset data/sim-43k --epochs 10 --min-updates 400
    .venv/bin/python bench/train.py --dataset data/sim-43k --skip-pipeline --skip-speed \
        --compare-seeds 0 1 2   # 40 epochs each: about 2 h (resnet18-224: 40 min a seed)
    .venv/bin/python bench/train.py --device cuda   # the paper's 100 epochs per stage, on GPU
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.method.config import RunConfig
from rbc1000.train.method.run_data import load_datasets, make_plan
from rbc1000.train.method.stages import run_pipeline
from rbc1000.train.nn.networks import build_model, count_parameters
from rbc1000.train.nn.trainer import predict, resolve_device, seed_everything, train_stage
from rbc1000.train.report.paper_metrics import compute_metrics

DEFAULT_DATASETS = ("data/sim-43k", "data/sim-small")
COMPACT: str = RunConfig.model_fields["model"].default


@dataclass(frozen=True)
class Hardware:
    """Where the speed runs and the comparison train, and whether with bfloat16 autocast (CUDA only)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False

    def autocast(self) -> torch.autocast:
        enabled = self.amp and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def timed(self, step: Callable[[], None], steps: int) -> float:
        """Seconds for `steps` calls after one warm-up call, waiting for the GPU to finish."""
        step()  # warm-up: allocation and kernel selection
        self.sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        self.sync()
        return time.perf_counter() - t0

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


CPU = Hardware()


def train_speed(name: str, batch: int, steps: int, hw: Hardware = CPU) -> float:
    """Training samples per second (forward, backward, Adam step) on random triplets."""
    model = build_model(name).train().to(hw.device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    x = torch.randn(batch, 3, 63, 63, device=hw.device)
    y = torch.randint(0, 2, (batch,), device=hw.device)

    def step() -> None:
        opt.zero_grad()
        with hw.autocast():
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()

    return batch * steps / hw.timed(step, steps)


@torch.no_grad()
def infer_speed(name: str, batch: int, steps: int, hw: Hardware = CPU) -> float:
    """Inference samples per second (eval mode, no gradients)."""
    model = build_model(name).eval().to(hw.device)
    x = torch.randn(batch, 3, 63, 63, device=hw.device)

    def step() -> None:
        with hw.autocast():
            model(x)

    return batch * steps / hw.timed(step, steps)


def speeds(quick: bool, hw: Hardware = CPU) -> dict[str, float]:
    """Per-sample speed of both networks: best of a few interleaved repeats.

    The machine is shared, so each figure is the fastest repeat (the least disturbed one), and
    the two networks are measured alternately so that a busy spell hits both alike.
    """
    n = 1 if quick else 3
    runs: dict[str, list[float]] = {}
    for _ in range(2 if quick else 3):
        measures: tuple[tuple[str, Callable[[], float]], ...] = (
            ("compact_train_samples_per_s", lambda: train_speed(COMPACT, 128, 3 * n, hw)),
            ("resnet18_224_train_samples_per_s", lambda: train_speed("resnet18-224", 32, n, hw)),
            ("compact_infer_samples_per_s", lambda: infer_speed(COMPACT, 256, 3 * n, hw)),
            ("resnet18_224_infer_samples_per_s", lambda: infer_speed("resnet18-224", 64, n, hw)),
        )
        for key, fn in measures:
            runs.setdefault(key, []).append(fn())
    out = {key: max(values) for key, values in runs.items()}
    out["train_speedup"] = out["compact_train_samples_per_s"] / out["resnet18_224_train_samples_per_s"]
    out["infer_speedup"] = out["compact_infer_samples_per_s"] / out["resnet18_224_infer_samples_per_s"]
    return out


def synthetic(n: int = 3000, seed: int = 0) -> TripletDataset:
    """A stand-in dataset (blob = real, hot pixel = bogus) when no simulated set exists yet."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    x = rng.normal(0, 1, (n, 3, 63, 63)).astype(np.float32)
    yy, xx = np.mgrid[:63, :63]
    blob = np.exp(-((yy - 31) ** 2 + (xx - 31) ** 2) / 8.0).astype(np.float32)
    amp = rng.uniform(1.0, 4.0, n).astype(np.float32)
    x[y == 1, 2] += amp[y == 1, None, None] * blob
    x[y == 0, 2, 31, 31] += 3 * amp[y == 0]
    test = np.arange(0, n, 10)
    return TripletDataset(
        x,
        y,
        np.array([f"syn:{i}" for i in range(n)]),
        np.zeros(n, bool),
        np.full(n, "synthetic"),
        "synthetic",
        {"test": test, "pool": np.setdiff1d(np.arange(n), test)},
    )


def pipeline_run(ds: TripletDataset, base: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Run every stage; return its table rows and wall times."""
    cfg = RunConfig.model_validate({**base, "run_dir": str(run_dir)})
    t0 = time.perf_counter()
    records = run_pipeline(cfg, ds)
    total = time.perf_counter() - t0
    return {
        "scale": {k: v for k, v in cfg.model_dump().items() if k not in ("run_dir", "progress", "datasets")},
        "stage_seconds": {r.label: round(r.seconds, 1) for r in records},
        "pipeline_seconds": round(total, 1),
        "quality_table": [
            {
                "stage": r.label,
                "n_train": r.n_train,
                "best_epoch": r.best_epoch,
                **{k: (None if v is None else round(v, 5)) for k, v in r.test_metrics.items()},
                **r.info,
            }
            for r in records
        ],
    }


def model_comparison(
    ds: TripletDataset,
    base: dict[str, Any],
    seeds: tuple[int, ...] = (0,),
    models: tuple[str, ...] = (COMPACT, "resnet18-224"),
    hw: Hardware = CPU,
) -> dict[str, Any]:
    """ITS of both networks on the same M labels, split, epochs and test samples, per seed.

    Each seed draws its own M labels, validation split and test subset, and both networks see
    that same draw, so the per-seed differences are paired.
    """
    cfg = RunConfig.model_validate(base)
    out: dict[str, Any] = {
        "scale": {
            "m_initial": cfg.m_initial,
            "epochs": cfg.epochs,
            "lr": cfg.lr,
            "batch_size": cfg.batch_size,
            "test_max": cfg.test_max,
            "seeds": list(seeds),
        }
    }
    device = hw.device
    for seed in seeds:
        plan = make_plan(ds, cfg.m_initial, 0, cfg.val_fraction, seed, cfg.test_max)
        tr, va = plan.labelled[~plan.labelled_val], plan.labelled[plan.labelled_val]
        x_test, y_test = ds.x[plan.test], ds.y[plan.test]
        for name in models:
            seed_everything(seed)
            model = build_model(name)
            t0 = time.perf_counter()
            result = train_stage(
                model,
                (ds.x[tr], ds.y[tr]),
                (ds.x[va], ds.y[va]),
                cfg.model_copy(update={"seed": seed}),
                device,
                name,
            )
            seconds = time.perf_counter() - t0
            metrics = compute_metrics(y_test, predict(model, x_test, device, 64, cfg.amp))
            row = {k: round(metrics[k], 5) for k in ("Sum", "MCC", "ROC_AUC")}
            row.update(
                seed=seed,
                n_train=int(tr.size),
                n_val=int(va.size),
                n_test=int(plan.test.size),
                best_epoch=result.best_epoch,
                train_seconds=round(seconds, 1),
            )
            out.setdefault(name, []).append(row)
    out.update(_paired_summary(out, models))
    return out


def _paired_summary(out: dict[str, Any], models: tuple[str, ...]) -> dict[str, Any]:
    """Mean Sum per network and, for two networks, the per-seed paired difference."""
    summary: dict[str, Any] = {
        f"{name}_mean_Sum": round(float(np.mean([r["Sum"] for r in out[name]])), 3) for name in models
    }
    if len(models) == 2:
        a, b = models
        diffs = [ra["Sum"] - rb["Sum"] for ra, rb in zip(out[a], out[b], strict=True)]
        summary["paired_Sum_difference"] = {
            "of": f"{a} - {b}",
            "per_seed": [round(d, 3) for d in diffs],
            "mean": round(float(np.mean(diffs)), 3),
        }
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few minutes in all")
    parser.add_argument(
        "--dataset", nargs="+", default=None, help="dataset path(s); default: the simulated set if present"
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs per stage")
    parser.add_argument("--unlabelled", type=int, default=None, help="unlabelled pool size")
    parser.add_argument("--test-max", type=int, default=None, help="cap on test samples")
    parser.add_argument(
        "--min-updates",
        type=int,
        default=None,
        help="at least this many Adam steps per stage (see RunConfig)",
    )
    parser.add_argument(
        "--compare-m", type=int, default=None, help="labels for the compact vs resnet18-224 comparison"
    )
    parser.add_argument(
        "--compare-epochs",
        type=int,
        default=None,
        help="epochs of the comparison (default 40; the paper trains 100)",
    )
    parser.add_argument(
        "--compare-models", nargs="+", default=[COMPACT, "resnet18-224"], help="networks in the comparison"
    )
    parser.add_argument(
        "--compare-seeds",
        nargs="+",
        type=int,
        default=None,
        help="seeds of the comparison (each its own M labels and test subset)",
    )
    parser.add_argument(
        "--compare-test-max",
        type=int,
        default=None,
        help="test samples of the comparison (stratified subset)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train")
    parser.add_argument(
        "--amp", action=argparse.BooleanOptionalAction, default=None, help="bfloat16 autocast (default: cuda)"
    )
    parser.add_argument("--skip-compare", action="store_true", help="no resnet18-224 training")
    parser.add_argument("--skip-speed", action="store_true", help="no per-sample speed runs")
    parser.add_argument("--skip-pipeline", action="store_true", help="no pipeline run")
    return parser.parse_args(argv)


def _dataset(paths: list[str] | None, quick: bool) -> TripletDataset:
    if paths:
        return load_datasets(paths)
    for path in DEFAULT_DATASETS[::-1] if quick else DEFAULT_DATASETS:
        if Path(path).is_dir():
            return load_datasets([path])
    return synthetic()


def _compare_config(base: dict[str, Any], args: argparse.Namespace, hw: Hardware) -> dict[str, Any]:
    """The ITS comparison's settings: on GPU, the paper's 100 epochs and learning-rate schedule."""
    quick, gpu = args.quick, hw.device.type == "cuda"
    compare = {
        **base,
        "m_initial": args.compare_m or (200 if quick else 900),
        "epochs": args.compare_epochs or (4 if quick else 100 if gpu else 40),
        "test_max": args.compare_test_max or (200 if quick else 4000),
        "batch_size": 32,
        "min_updates": 0,
    }
    if not gpu or compare["epochs"] < 40:  # short CPU schedules: larger steps, one drop at 80%
        compare.update(lr=1e-3, lr_step=max(1, int(0.8 * compare["epochs"])))
    return compare


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    hw = Hardware(resolve_device(args.device), args.device == "cuda" if args.amp is None else args.amp)
    ds = _dataset(args.dataset, args.quick)
    quick = args.quick
    base: dict[str, Any] = {
        "datasets": [ds.name],
        "model": COMPACT,
        "m_initial": 900,
        "k_select": 100,
        "unlabelled": args.unlabelled or (2000 if quick else 10000),
        "rounds": 3,
        "supervised_all": True,
        "supervised_max": 3000 if quick else 0,
        "test_max": args.test_max or (1000 if quick else 0),
        "epochs": args.epochs or (3 if quick else 100),
        "progress": False,
        "threads": args.threads,
        "device": hw.device.type,
        "amp": hw.amp,
        "min_updates": args.min_updates if args.min_updates is not None else (150 if quick else 0),
    }
    if base["epochs"] < 40:  # short schedules: larger steps, one drop at 80% of the epochs
        base.update(lr=1e-3, lr_step=max(1, int(0.8 * base["epochs"])), batch_size=128)
    report: dict[str, Any] = {
        "threads": args.threads,
        "device": hw.device.type,
        "amp": hw.amp,
        "compact_model": COMPACT,
        "compact_parameters": count_parameters(build_model(COMPACT)),
    }
    if not args.skip_speed:
        report.update(speeds(quick, hw))
    report["dataset"] = {"name": ds.name, "n": len(ds), "fingerprint": ds.fingerprint()}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_pipeline:
            report.update(pipeline_run(ds, base, Path(tmp) / "run"))
        if not args.skip_compare:
            seeds = tuple(args.compare_seeds or ((0,) if quick else (0, 1, 2)))
            compare = _compare_config(base, args, hw)
            report["model_comparison"] = model_comparison(ds, compare, seeds, tuple(args.compare_models), hw)
            if quick:  # 120 labels and a few dozen Adam steps: either network may stay at the prior
                report["model_comparison"]["note"] = (
                    "--quick: checks the mechanics only; too few labels and steps to rank the networks"
                )
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
