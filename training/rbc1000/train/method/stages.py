"""The RB-C1000 run: ITS -> selection -> ALS -> SSLS x R (-> full supervision), resumable.

Stage by stage (each writes `stages/<n>_<key>/` and is skipped when it already finished):
1. ITS trains on the M labelled samples (train/validation split by cfg.val_fraction);
2. selection scores the unlabelled pool with the ITS model and sends the K least confident to
   the "experts" (the dataset's labels); all K are used (class imbalance is weighted in the
   loss, cfg.class_weighting, never cut);
3. ALS trains on M + K;
4. each SSLS round pseudo-labels the rest of the pool, plus the real alerts of
   cfg.unlabelled_alerts, with the previous stage's model (confidence >= threshold,
   class-balanced) and trains on M + K + V; pseudo-labels only ever enter the training part,
   never validation. A round with zero pseudo-labels stops the run, or with
   cfg.skip_empty_rounds is skipped (the previous model carries on, the record says so);
5. with cfg.supervised_all, one model trains on every pool label, the upper bound.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.loaders.unlabelled import UnlabelledAlerts
from rbc1000.train.method.config import RunConfig, load_config, save_config
from rbc1000.train.method.run_data import RunPlan, load_datasets, load_unlabelled, plan_for, val_flags
from rbc1000.train.method.selection import select_uncertain
from rbc1000.train.method.ssls import EmptyRoundError, Pool, pseudo_labelled
from rbc1000.train.nn.networks import build_model
from rbc1000.train.nn.trainer import predict, resolve_device, seed_everything, train_stage
from rbc1000.train.report.paper_metrics import compute_metrics, family_recall, jsonable

log = logging.getLogger(__name__)

# Fields that may change between an interrupted run and its resumption.
_RESUMABLE_FIELDS = {
    "device",
    "amp",
    "threads",
    "progress",
    "eval_batch_size",
    "run_dir",
    "skip_empty_rounds",
}
PARITY_FILE = "parity_inputs.npy"


@dataclass(frozen=True)
class StageRecord:
    """What one finished stage reports."""

    key: str
    label: str
    best_epoch: int
    n_train: int
    n_val: int
    seconds: float
    test_metrics: dict[str, float | None]
    info: dict[str, Any] = field(default_factory=dict)
    family_recall: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunContext:
    """Everything the stages share."""

    cfg: RunConfig
    ds: TripletDataset
    plan: RunPlan
    device: torch.device
    run_dir: Path
    alerts: UnlabelledAlerts = field(default_factory=UnlabelledAlerts.empty)


def stage_keys(cfg: RunConfig) -> list[tuple[str, str]]:
    """(key, table label) of every stage of a run, in order."""
    keys = [("its", "ITS"), ("als", "ALS")]
    keys += [(f"ssls{r}", f"SSLS R={r}") for r in range(1, cfg.rounds + 1)]
    if cfg.supervised_all:
        keys.append(("full", "Full supervision"))
    return keys


def stage_dir(run_dir: Path, key: str, cfg: RunConfig) -> Path:
    """Directory of stage `key`, numbered in run order."""
    number = [k for k, _ in stage_keys(cfg)].index(key)
    return run_dir / "stages" / f"{number}_{key}"


def prepare_run_dir(cfg: RunConfig) -> Path:
    """Create the run directory, or check that an existing one holds the same run."""
    run_dir = Path(cfg.run_dir)
    saved = run_dir / "config.yaml"
    if saved.is_file():
        old = load_config(saved, {}).model_dump()
        new = cfg.model_dump()
        changed = sorted(k for k in new if k not in _RESUMABLE_FIELDS and old.get(k) != new[k])
        if changed:
            raise ValueError(
                f"{run_dir} holds a run with other settings ({', '.join(changed)}); "
                "use another --run-dir or the same configuration to resume"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, saved)
    return run_dir


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape results."""
    import sklearn
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
    }


def _write_environment(ctx: RunContext, paths: list[str]) -> None:
    env = {
        "libraries": library_versions(),
        "device": str(ctx.device),
        "datasets": paths,
        "dataset_name": ctx.ds.name,
        "dataset_fingerprint": ctx.ds.fingerprint(),
        "counts": {
            "test": int(ctx.plan.test.size),
            "labelled": int(ctx.plan.labelled.size),
            "unlabelled": int(ctx.plan.unlabelled.size),
            "full": int(ctx.plan.full.size),
            "unlabelled_real_alerts": len(ctx.alerts),
        },
        "test_real_fraction": float(ctx.ds.y[ctx.plan.test].mean()),
    }
    (ctx.run_dir / "environment.json").write_text(json.dumps(env, indent=2))


def _split(
    labelled: np.ndarray, flags: np.ndarray, ctx: RunContext, stage_no: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) positions of the labelled set for one stage."""
    if ctx.cfg.split_mode == "reshuffle":
        rng = np.random.default_rng([ctx.cfg.seed, stage_no])
        flags = val_flags(labelled.size, ctx.cfg.val_fraction, rng)
    return labelled[~flags], labelled[flags]


def _load_state(directory: Path) -> dict[str, torch.Tensor]:
    return dict(torch.load(directory / "model.pt", map_location="cpu")["state"])


def _load_record(directory: Path) -> StageRecord:
    return StageRecord(**json.loads((directory / "stage.json").read_text()))


def _model(ctx: RunContext, stage_no: int, init_state: dict[str, torch.Tensor] | None) -> Any:
    seed_everything(ctx.cfg.seed + 1000 * stage_no)
    model = build_model(ctx.cfg.model)
    if init_state is not None and ctx.cfg.init == "finetune":
        model.load_state_dict(init_state)
    return model


def run_stage(
    ctx: RunContext,
    key: str,
    label: str,
    train: tuple[np.ndarray, np.ndarray],
    val_index: np.ndarray,
    prev: dict[str, torch.Tensor] | None,
    info: dict[str, Any],
) -> tuple[StageRecord, dict[str, torch.Tensor]]:
    """Train, evaluate on the test split and save one stage (or load it if already done)."""
    directory = stage_dir(ctx.run_dir, key, ctx.cfg)
    if (directory / "stage.json").is_file():
        log.info("stage_resumed stage=%s dir=%s", key, directory)
        return _load_record(directory), _load_state(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stage_no = [k for k, _ in stage_keys(ctx.cfg)].index(key)
    model = _model(ctx, stage_no, prev)
    t0 = time.perf_counter()
    val = (ctx.ds.x[val_index], ctx.ds.y[val_index])
    result = train_stage(model, train, val, ctx.cfg, ctx.device, desc=label)
    seconds = time.perf_counter() - t0
    p_test = predict(model, ctx.ds.x[ctx.plan.test], ctx.device, ctx.cfg.eval_batch_size, ctx.cfg.amp)
    p_val = predict(model, val[0], ctx.device, ctx.cfg.eval_batch_size, ctx.cfg.amp)
    test_y = ctx.ds.y[ctx.plan.test]
    metrics = jsonable(compute_metrics(test_y, p_test))
    record = StageRecord(
        key=key,
        label=label,
        best_epoch=result.best_epoch,
        n_train=len(train[1]),
        n_val=int(val_index.size),
        seconds=seconds,
        test_metrics=metrics,
        info=info,
        family_recall=family_recall(test_y, p_test, ctx.ds.family[ctx.plan.test]),
    )
    torch.save({"model": ctx.cfg.model, "state": result.state}, directory / "model.pt")
    np.savez(
        directory / "scores.npz", test_y=ctx.ds.y[ctx.plan.test], test_p=p_test, val_y=val[1], val_p=p_val
    )
    (directory / "history.json").write_text(json.dumps(result.history, indent=1))
    (directory / "stage.json").write_text(json.dumps(asdict(record), indent=2))  # written last
    log.info(
        "stage_done stage=%s n_train=%d best_epoch=%d seconds=%.1f",
        key,
        record.n_train,
        result.best_epoch,
        seconds,
    )
    return record, result.state


def select_for_experts(ctx: RunContext, its_state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The K most uncertain unlabelled samples under the ITS model, saved for resumption."""
    path = stage_dir(ctx.run_dir, "als", ctx.cfg) / "selection.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    model = build_model(ctx.cfg.model)
    model.load_state_dict(its_state)
    pool = ctx.plan.unlabelled
    p = predict(
        model, ctx.ds.x[pool], ctx.device, ctx.cfg.eval_batch_size, ctx.cfg.amp, ctx.cfg.progress, "select"
    )
    chosen = pool[select_uncertain(p, ctx.cfg.k_select, ctx.cfg.selection)]
    rng = np.random.default_rng([ctx.cfg.seed, 1])
    selection = {
        "chosen": chosen.tolist(),
        "kept": chosen.tolist(),  # every expert label is used
        "kept_val": val_flags(chosen.size, ctx.cfg.val_fraction, rng).tolist(),
        "chosen_real": int(ctx.ds.y[chosen].sum()),
        "kept_real": int(ctx.ds.y[chosen].sum()),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(selection))
    return selection


def pseudo_training_set(
    ctx: RunContext,
    teacher: dict[str, torch.Tensor],
    remaining: np.ndarray,
    train_idx: np.ndarray,
    real_fraction: float,
    key: str,
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """Labelled training samples plus the teacher's balanced confident pseudo-labels."""
    model = build_model(ctx.cfg.model)
    model.load_state_dict(teacher)
    pool = Pool(ctx.ds, remaining, ctx.alerts)
    p = predict(
        model,
        pool.x(),
        ctx.device,
        ctx.cfg.eval_batch_size,
        ctx.cfg.amp,
        ctx.cfg.progress,
        f"pseudo-label {key}",
    )
    train = (ctx.ds.x[train_idx], ctx.ds.y[train_idx])
    return pseudo_labelled(pool, p, train, ctx.cfg, real_fraction, key)


def skip_round(ctx: RunContext, key: str, label: str, previous: StageRecord, why: str) -> StageRecord:
    """Record an SSLS round as skipped: the previous stage's model and figures carry on."""
    directory = stage_dir(ctx.run_dir, key, ctx.cfg)
    directory.mkdir(parents=True, exist_ok=True)
    prev_dir = stage_dir(ctx.run_dir, previous.key, ctx.cfg)
    for name in ("model.pt", "scores.npz", "history.json"):
        (directory / name).write_bytes((prev_dir / name).read_bytes())
    record = StageRecord(
        key=key,
        label=f"{label} (skipped)",
        best_epoch=previous.best_epoch,
        n_train=0,
        n_val=previous.n_val,
        seconds=0.0,
        test_metrics=previous.test_metrics,
        info={"skipped": True, "why": why, "model_of": previous.key},
        family_recall=previous.family_recall,
    )
    (directory / "stage.json").write_text(json.dumps(asdict(record), indent=2))
    log.warning("stage_skipped stage=%s reason=%s", key, why)
    return record


def run_pipeline(cfg: RunConfig, ds: TripletDataset | None = None) -> list[StageRecord]:
    """Run (or resume) every stage of `cfg`; `ds` overrides loading cfg.datasets."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = prepare_run_dir(cfg)
    ds = ds if ds is not None else load_datasets(cfg.datasets, cfg.preprocessing)
    plan = plan_for(cfg, ds)
    alerts = load_unlabelled(cfg, ds)
    ctx = RunContext(cfg, ds, plan, resolve_device(cfg.device), run_dir, alerts)
    log.info("run_started run_dir=%s samples=%d device=%s", run_dir, len(ds.y), ctx.device)
    _write_environment(ctx, cfg.datasets)
    np.save(run_dir / PARITY_FILE, ds.x[plan.test[:256]])
    records = _run_stages(ctx)
    (run_dir / "stages.json").write_text(json.dumps([asdict(r) for r in records], indent=2))
    log.info("run_finished run_dir=%s stages=%d", run_dir, len(records))
    return records


def _ssls_round(
    ctx: RunContext,
    r: int,
    labelled: np.ndarray,
    flags: np.ndarray,
    remaining: np.ndarray,
    real_fraction: float,
    previous: StageRecord,
    state: dict[str, torch.Tensor],
) -> tuple[StageRecord, dict[str, torch.Tensor]]:
    """SSLS round r: pseudo-label, train, record; a round without pseudo-labels fails or is skipped."""
    key, label = f"ssls{r}", f"SSLS R={r}"
    tr, va = _split(labelled, flags, ctx, 1 + r)
    if (stage_dir(ctx.run_dir, key, ctx.cfg) / "stage.json").is_file():
        return run_stage(ctx, key, label, (np.empty(0), np.empty(0)), va, state, {})
    try:
        train, info = pseudo_training_set(ctx, state, remaining, tr, real_fraction, key)
    except EmptyRoundError as exc:
        if not ctx.cfg.skip_empty_rounds:
            raise
        return skip_round(ctx, key, label, previous, str(exc)), state
    return run_stage(ctx, key, label, train, va, state, info)


def _run_stages(ctx: RunContext) -> list[StageRecord]:
    cfg, plan, y = ctx.cfg, ctx.plan, ctx.ds.y
    labelled, flags = plan.labelled, plan.labelled_val
    tr, va = _split(labelled, flags, ctx, 0)
    its, state = run_stage(ctx, "its", "ITS", (ctx.ds.x[tr], y[tr]), va, None, {})
    selection = select_for_experts(ctx, state)
    labelled = np.concatenate([labelled, np.asarray(selection["kept"], dtype=np.int64)])
    flags = np.concatenate([flags, np.asarray(selection["kept_val"], dtype=bool)])
    remaining = np.setdiff1d(plan.unlabelled, selection["chosen"])
    tr, va = _split(labelled, flags, ctx, 1)
    info = {k: v for k, v in selection.items() if k.endswith("_real")}
    info.update(n_chosen=len(selection["chosen"]), n_kept=len(selection["kept"]))
    als, state = run_stage(ctx, "als", "ALS", (ctx.ds.x[tr], y[tr]), va, state, info)
    records = [its, als]
    real_fraction = float(y[labelled].mean())
    for r in range(1, cfg.rounds + 1):
        record, state = _ssls_round(ctx, r, labelled, flags, remaining, real_fraction, records[-1], state)
        records.append(record)
    if cfg.supervised_all:
        rng = np.random.default_rng([cfg.seed, 99])
        full_val = val_flags(plan.full.size, cfg.val_fraction, rng)
        tr, va = plan.full[~full_val], plan.full[full_val]
        record, _ = run_stage(ctx, "full", "Full supervision", (ctx.ds.x[tr], y[tr]), va, None, {})
        records.append(record)
    return records
