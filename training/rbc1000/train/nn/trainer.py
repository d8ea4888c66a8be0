"""Training one stage: Adam, step learning rate, cross-entropy, flips, best epoch on validation.

With cfg.class_weighting "balanced" each class's loss is weighted by n / (2 n_class) over the
stage's training set, so an unbalanced set of labels is used whole instead of being cut.

The whole stage's data stays in memory as tensors (on the GPU when training there) and
batches are gathered by index, so data loading never waits on Python workers.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from rbc1000.train.method.config import RunConfig
from rbc1000.train.report.paper_metrics import compute_metrics


@dataclass(frozen=True)
class StageResult:
    """The best epoch's weights (on CPU) and the per-epoch history of one stage."""

    state: dict[str, torch.Tensor]
    best_epoch: int
    best_value: float
    history: list[dict[str, float]] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """torch device for "auto" | "cpu" | "cuda"; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels where it has them."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def _autocast(device: torch.device, amp: bool) -> torch.autocast:
    enabled = amp and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def predict(
    model: nn.Module,
    x: np.ndarray,
    device: torch.device,
    batch_size: int = 1024,
    amp: bool = False,
    progress: bool = False,
    desc: str = "score",
) -> np.ndarray:
    """p_real = softmax(logits)[:, 1] for every triplet in `x`, as float32 [N]."""
    model.eval()
    model.to(device)
    out = np.empty(len(x), dtype=np.float32)
    starts = range(0, len(x), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
        xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size])).to(device)
        with _autocast(device, amp):
            logits = model(xb)
        out[start : start + len(xb)] = logits.float().softmax(1)[:, 1].cpu().numpy()
    return out


def _flip(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each sample flipped left-right and up-down, each with probability 1/2."""
    h = torch.rand(len(xb), generator=gen).to(xb.device) < 0.5
    v = torch.rand(len(xb), generator=gen).to(xb.device) < 0.5
    xb = torch.where(h[:, None, None, None], xb.flip(3), xb)
    return torch.where(v[:, None, None, None], xb.flip(2), xb)


def _train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: RunConfig,
    device: torch.device,
    gen: torch.Generator,
    weight: torch.Tensor | None = None,
) -> float:
    """One pass over (x, y) in shuffled batches; returns the mean loss."""
    model.train()
    order = torch.randperm(len(x), generator=gen)
    total, seen = 0.0, 0
    for start in range(0, len(x), cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        if len(idx) < 2 and len(x) >= 2:
            continue  # batch norm needs two samples; the sample is seen again next epoch
        xb = x[idx.to(x.device)].to(device, non_blocking=True)
        yb = y[idx.to(y.device)].to(device, non_blocking=True)
        if cfg.augment:
            xb = _flip(xb, gen)
        with _autocast(device, cfg.amp):
            loss = F.cross_entropy(model(xb).float(), yb, weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
        seen += len(idx)
    return total / max(seen, 1)


def class_weights(y: np.ndarray, mode: str) -> torch.Tensor | None:
    """Loss weights [bogus, real] = n / (2 n_class) for "balanced" (None: unweighted or one class)."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=2)
    if mode != "balanced" or (counts == 0).any():
        return None
    return torch.tensor(counts.sum() / (2.0 * counts), dtype=torch.float32)


def stage_schedule(n_train: int, cfg: RunConfig) -> tuple[int, int]:
    """(epochs, lr_step) for a stage of `n_train` samples, stretched to cfg.min_updates steps."""
    batches = max(1, math.ceil(n_train / cfg.batch_size))
    epochs = max(cfg.epochs, math.ceil(cfg.min_updates / batches))
    return epochs, max(1, round(cfg.lr_step * epochs / cfg.epochs))


def train_stage(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    cfg: RunConfig,
    device: torch.device,
    desc: str = "stage",
) -> StageResult:
    """Train `model` on `train`; keep the epoch best on `val` by cfg.select_metric.

    The stage runs cfg.epochs epochs, or more when cfg.min_updates asks for it.

    Ties go to the later epoch (as in the reference code). Returns the best weights; `model`
    is left holding them too.
    """
    if len(train[1]) == 0:
        raise ValueError(f"{desc}: empty training set")
    model.to(device)
    home = device if device.type == "cuda" else torch.device("cpu")
    x = torch.from_numpy(np.ascontiguousarray(train[0])).to(home)
    y = torch.from_numpy(np.asarray(train[1], dtype=np.int64)).to(home)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    epochs, lr_step = stage_schedule(len(train[1]), cfg)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=lr_step, gamma=cfg.lr_gamma)
    gen = torch.Generator().manual_seed(cfg.seed)
    weight = class_weights(train[1], cfg.class_weighting)
    weight = weight.to(device) if weight is not None else None
    best_state, best_epoch, best_value = copy.deepcopy(model.state_dict()), 0, -np.inf
    history: list[dict[str, float]] = []
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not cfg.progress, unit="ep")
    for epoch in bar:
        t0 = time.perf_counter()
        lr = opt.param_groups[0]["lr"]
        loss = _train_epoch(model, opt, x, y, cfg, device, gen, weight)
        sched.step()
        row: dict[str, float] = {"epoch": epoch, "lr": lr, "train_loss": loss}
        if len(val[1]):
            p_val = predict(model, val[0], device, cfg.eval_batch_size, cfg.amp)
            row.update({f"val_{k}": v for k, v in compute_metrics(val[1], p_val).items()})
            value = row[f"val_{cfg.select_metric}"]
        else:
            value = float(epoch)  # no validation data: the last epoch wins
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if value >= best_value:
            best_value, best_epoch = value, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        bar.set_postfix(loss=f"{loss:.3f}", val=f"{value:.1f}", best=best_epoch)
    model.load_state_dict(best_state)
    return StageResult(state=best_state, best_epoch=best_epoch, best_value=float(best_value), history=history)
