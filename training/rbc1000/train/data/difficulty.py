"""Is a dataset trivially separable? Train the compact CNN on 900 labels and on many, compare.

Protocol (recorded in the dataset card under `measured_difficulty`): both models are
`rbc1000.train.nn.networks.build_model("compact")`, trained from scratch with Adam (lr 1e-3, batch 64,
random flips), the epoch with the best validation Sum kept. "900 labels" draws 900 samples
from the pool (stratified by class), trains on 60 % and validates on 40 % as the paper's ITS
stage does; "all labels" draws `--n-all` samples from the pool (the whole pool with
`--n-all 0`) and validates on 10 %. Both are scored on the same samples of the fixed test
split with the paper's metrics (rbc1000.train.report.paper_metrics; Sum out of 600). Short on purpose: this
measures the label-efficiency gap of the data, not the best model the data allow.

Usage: python -m rbc1000.train.data.difficulty DATASET [--write-card] [--n-all 6000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.dataset_card import read_card, write_card
from rbc1000.train.data.loaders import load_dataset
from rbc1000.train.nn.networks import build_model
from rbc1000.train.report.paper_metrics import compute_metrics


def stratified_draw(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` indices with the class ratio of `y` (all of them when n <= 0 or n >= len(y))."""
    if n <= 0 or n >= len(y):
        return rng.permutation(len(y))
    picks = []
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        picks.append(rng.choice(members, size=round(n * len(members) / len(y)), replace=False))
    return rng.permutation(np.concatenate(picks))


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(x[i : i + 512])).softmax(1)[:, 1].numpy() for i in range(0, len(x), 512)]
    return np.concatenate(out) if out else np.empty(0, dtype=np.float32)


def train(
    x: np.ndarray,
    y: np.ndarray,
    val_fraction: float,
    epochs: int,
    seed: int,
) -> tuple[torch.nn.Module, int]:
    """Compact CNN trained on (x, y) minus a validation part; returns (model, best epoch)."""
    torch.manual_seed(seed)
    n_val = round(val_fraction * len(y))
    xv, yv, xt, yt = x[:n_val], y[:n_val], torch.from_numpy(x[n_val:]), torch.from_numpy(y[n_val:])
    model = build_model("compact")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    best, best_epoch, best_state = -1.0, 0, None
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(yt), generator=gen)
        for start in range(0, len(order) - 1, 64):
            idx = order[start : start + 64]
            xb = xt[idx]
            if torch.rand(1, generator=gen) < 0.5:
                xb = xb.flip(3)
            if torch.rand(1, generator=gen) < 0.5:
                xb = xb.flip(2)
            loss = F.cross_entropy(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        value = compute_metrics(yv, predict(model, xv))["Sum"]
        if value >= best:
            best, best_epoch = value, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, best_epoch


def per_family_accuracy(test: TripletDataset, p: np.ndarray) -> dict[str, float]:
    correct = (p > 0.5).astype(int) == test.y
    return {f: round(float(correct[test.family == f].mean()), 3) for f in sorted(set(test.family.tolist()))}


def measure(
    dataset: TripletDataset,
    n_small: int,
    n_all: int,
    epochs_small: int,
    epochs_all: int,
    test_max: int,
    seed: int,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    pool, test = dataset.split("pool"), dataset.split("test")
    test = test.subset(np.sort(stratified_draw(test.y, test_max, rng)))
    runs: dict[str, Any] = {}
    for name, n, val_fraction, epochs in (
        ("900_labels", n_small, 0.4, epochs_small),
        ("all_labels", n_all, 0.1, epochs_all),
    ):
        start = time.perf_counter()
        pick = stratified_draw(pool.y, n, rng)
        model, best_epoch = train(pool.x[pick], pool.y[pick], val_fraction, epochs, seed)
        p = predict(model, test.x)
        metrics = {
            k: round(100 * v, 2) if k != "Sum" else round(v, 2) for k, v in compute_metrics(test.y, p).items()
        }
        runs[name] = {
            "n_train": len(pick),
            "epochs": epochs,
            "best_epoch": best_epoch,
            "seconds": round(time.perf_counter() - start, 1),
            "metrics": metrics,
            "test_accuracy_per_family": per_family_accuracy(test, p),
        }
        print(json.dumps({name: runs[name]}), flush=True)
    return {
        "protocol": __doc__.split("Usage:")[0].strip().replace("\n", " "),
        "test_samples": len(test),
        "seed": seed,
        "runs": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="dataset spec (see rbc1000.train.data.loaders)")
    parser.add_argument("--n-small", type=int, default=900)
    parser.add_argument("--n-all", type=int, default=6000, help="0 = the whole pool")
    parser.add_argument("--epochs-small", type=int, default=30)
    parser.add_argument("--epochs-all", type=int, default=8)
    parser.add_argument("--test-max", type=int, default=4000, help="test samples scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--write-card", action="store_true", help="store the result in the dataset card (ZTF-NEW directories)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = measure(
        load_dataset(args.dataset),
        args.n_small,
        args.n_all,
        args.epochs_small,
        args.epochs_all,
        args.test_max,
        args.seed,
    )
    if args.write_card:
        directory = Path(args.dataset.split(":", 1)[-1].split("?")[0])
        card = read_card(directory)
        if card is None:
            raise SystemExit(f"{directory}: no dataset card to write into")
        card["measured_difficulty"] = result
        write_card(directory, card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
