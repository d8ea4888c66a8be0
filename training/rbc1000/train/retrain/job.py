"""One run of the periodic retraining job (`rbc-train retrain`), top to bottom.

1. Read the consensus labels (labelling app or export); the same fingerprint as the last
   run's means nothing to do: say so and stop.
2. Grow the evaluation set by alert-id hash and record it; split the labels by it.
3. Train the challenger by the RB-C1000 stages (`challenger.train_challenger`), after
   checking that no evaluation alert is among its training ids.
4. Score champion and challenger on the evaluation set through ONNX Runtime, each with its
   own preprocessing, the challenger loaded as the service loads a model (`Scorer.load`).
5. Gate: promote (a new registry version with lineage, the gate in its metadata, `current`
   moved atomically) or keep the champion and say why.
6. Record the run in `runs.json` (the learning curve) and write the report.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rbc1000.model.gate import GateRecord, GateRule
from rbc1000.model.registry import ModelRegistry, now_iso, write_json_atomic
from rbc1000.model.scoring import Scorer
from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.loaders import load_dataset
from rbc1000.train.retrain.challenger import Challenger, run_config, train_challenger, with_gate
from rbc1000.train.retrain.compare import Scored, decide, evaluate, resample_indices
from rbc1000.train.retrain.data import check_disjoint, joined, split_human, without
from rbc1000.train.retrain.evaluation import EvaluationSet
from rbc1000.train.retrain.labels import LabelApi, LabelSnapshot, snapshot_from_api, snapshot_from_dir
from rbc1000.train.retrain.report import write_report
from rbc1000.train.retrain.settings import RetrainSettings

log = logging.getLogger(__name__)
RUNS_FILE = "runs.json"
Trainer = Callable[..., Challenger]


def read_runs(root: Path) -> list[dict[str, Any]]:
    import json

    path = root / RUNS_FILE
    return list(json.loads(path.read_text())) if path.is_file() else []


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).parent,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def take_snapshot(settings: RetrainSettings) -> LabelSnapshot:
    if settings.labels_dir is not None:
        return snapshot_from_dir(settings.labels_dir)
    api = LabelApi(str(settings.labels_url))
    assert settings.labels_username is not None and settings.labels_password is not None
    api.login(settings.labels_username, settings.labels_password.get_secret_value())
    return snapshot_from_api(api, settings.model_registry / "labels")


def run_once(settings: RetrainSettings, trainer: Trainer = train_challenger) -> dict[str, Any]:
    """One run; returns its outcome (also written as the run's report.json)."""
    registry = ModelRegistry(settings.model_registry)
    runs = read_runs(registry.root)
    snapshot = take_snapshot(settings)
    fingerprint = snapshot.fingerprint()
    if runs and runs[-1]["labels"]["fingerprint"] == fingerprint:
        last = runs[-1]["run_id"]
        why = f"no new labels since run {last} ({snapshot.count} labels, fingerprint {fingerprint})"
        log.info("retrain_noop %s", why)
        return {"status": "no-op", "reasons": [why], "labels": snapshot.count}
    run_id = now_iso().replace(":", "").replace("-", "")
    run_dir = registry.root / "runs" / run_id
    if run_dir.exists():  # two runs within one second
        run_id = f"{run_id}-{len(runs)}"
        run_dir = registry.root / "runs" / run_id
    outcome = _train_and_decide(settings, registry, snapshot, run_dir, trainer)
    outcome.update(run_id=run_id, at=now_iso(), labels={"count": snapshot.count, "fingerprint": fingerprint})
    runs.append({k: outcome.get(k) for k in _HISTORY_KEYS})
    write_json_atomic(registry.root / RUNS_FILE, runs)
    write_report(run_dir, outcome, runs)
    return outcome


_HISTORY_KEYS = (
    "run_id",
    "at",
    "status",
    "labels",
    "n_train",
    "n_eval",
    "champion_version",
    "challenger_version",
    "promoted",
    "champion_roc_auc",
    "challenger_roc_auc",
)


def _load_human(snapshot: LabelSnapshot, preprocessing: str) -> TripletDataset:
    return load_dataset(snapshot.spec, preprocessing=preprocessing)


def _train_and_decide(
    settings: RetrainSettings,
    registry: ModelRegistry,
    snapshot: LabelSnapshot,
    run_dir: Path,
    trainer: Trainer,
) -> dict[str, Any]:
    champion = registry.current()
    cfg = run_config(settings, 3, run_dir / "train", [snapshot.spec, *settings.extra_datasets])
    evaluation = EvaluationSet.load(registry.root, settings.eval_fraction)
    split = split_human(_load_human(snapshot, cfg.preprocessing), evaluation)
    evaluation.save(registry.root)
    base: dict[str, Any] = {
        "n_train": len(split.train),
        "n_eval": len(split.evaluation),
        "champion_version": champion.version if champion else None,
        "challenger_version": None,
        "promoted": False,
    }
    problem = _too_few(settings, split)
    if problem:
        log.info("retrain_skipped %s", problem)
        return {**base, "status": "skipped", "reasons": [problem]}
    extras = [
        without(load_dataset(s, preprocessing=cfg.preprocessing), evaluation) for s in settings.extra_datasets
    ]
    ds = joined([split.train, *extras], split.evaluation)
    cfg = run_config(settings, len(ds.splits["pool"]), run_dir / "train", cfg.datasets)
    n_trained = check_disjoint(cfg, ds, evaluation)
    version = registry.next_version()
    source = f"{snapshot.count} human labels ({snapshot.source})" + (
        f" + {', '.join(settings.extra_datasets)}" if settings.extra_datasets else ""
    )
    challenger = trainer(cfg, ds, version, source, settings.band_purity)
    comparison = _compare(settings, snapshot, split.evaluation, challenger, champion, run_dir)
    context = _Context(settings, registry, snapshot, cfg, ds, evaluation, split.evaluation, n_trained)
    return _gate(context, base, challenger, comparison, version)


@dataclass(frozen=True)
class _Context:
    settings: RetrainSettings
    registry: ModelRegistry
    snapshot: LabelSnapshot
    cfg: Any
    ds: TripletDataset
    evaluation: EvaluationSet
    eval_ds: TripletDataset
    n_trained: int


def _gate(
    c: _Context, base: dict[str, Any], challenger: Challenger, comparison: dict[str, Any], version: str
) -> dict[str, Any]:
    """Decide, then promote (gate in the metadata, lineage beside it) or keep the champion."""
    champion = base["champion_version"]
    eval_ids = c.eval_ds.ids.astype(str)
    rule = GateRule(tolerance=c.settings.auc_tolerance, ece_tolerance=c.settings.ece_tolerance)
    passed, reasons = decide(comparison["challenger"], comparison["champion"], rule)
    gate = GateRecord(
        passed=passed,
        rule=rule,
        reasons=reasons,
        evaluation_fingerprint=c.evaluation.fingerprint(eval_ids),
        evaluation_size=len(eval_ids),
        evaluation_per_survey=c.evaluation.per_survey(eval_ids),
        challenger=comparison["challenger"],
        champion=comparison["champion"],
        parent=champion,
        decided_at=now_iso(),
        extra={"service_load_check": "passed", **_export_evidence(challenger)},
    )
    lineage = _lineage(c.settings, c.snapshot, c.cfg, c.ds, gate, c.n_trained)
    outcome = {**base, **_figures(comparison), "challenger_version": version, "gate": asdict(gate)}
    outcome.update(stages=challenger.stages, lineage=lineage, reasons=reasons)
    if passed:
        why = f"retrain gate passed: {'; '.join(reasons)}"
        c.registry.promote(with_gate(challenger.model, gate), lineage, why=why)
        log.info("retrain_promoted version=%s %s", version, "; ".join(reasons))
        return {**outcome, "status": "promoted", "promoted": True}
    log.info("retrain_kept champion=%s %s", champion, "; ".join(reasons))
    return {**outcome, "status": "kept", "challenger_version": None, "refused_challenger": version}


def _export_evidence(challenger: Challenger) -> dict[str, Any]:
    """The challenger's export gate (calibration and per-survey evaluation), kept beside the job's."""
    return {"export_gate": asdict(challenger.export_gate)} if challenger.export_gate else {}


def _too_few(settings: RetrainSettings, split: Any) -> str | None:
    y_eval = split.evaluation.y
    if len(split.train) < settings.min_train:
        return f"{len(split.train)} training labels, fewer than min_train {settings.min_train}"
    if len(y_eval) < settings.min_eval or y_eval.min() == y_eval.max():
        n_real = int(y_eval.sum())
        return f"{len(y_eval)} evaluation labels ({n_real} real): need {settings.min_eval}, both classes"
    return None


def _figures(comparison: dict[str, Any]) -> dict[str, Any]:
    champ = comparison["champion"]
    return {
        "challenger_roc_auc": comparison["challenger"]["ROC_AUC"]["value"],
        "champion_roc_auc": champ["ROC_AUC"]["value"] if champ else None,
        "comparison": comparison,
    }


def _scores(
    settings: RetrainSettings, snapshot: LabelSnapshot, ids: np.ndarray, model: Path, cache: dict[str, Any]
) -> tuple[Scored, np.ndarray]:
    """A model's scores on the evaluation alerts, triplets made with its own preprocessing."""
    scorer = Scorer.load(model, "cpu", intra_op_threads=settings.threads)
    version = scorer.info.preprocessing_version
    if version not in cache:
        cache[version] = _load_human(snapshot, version)
    ds: TripletDataset = cache[version]
    position = {str(i): n for n, i in enumerate(ds.ids)}
    order = np.array([position[str(i)] for i in ids], dtype=np.int64)
    return Scored(scorer.score(ds.x[order]), scorer.info.low_confidence), ds.y[order]


def _compare(
    settings: RetrainSettings,
    snapshot: LabelSnapshot,
    evaluation: TripletDataset,
    challenger: Challenger,
    champion: Any,
    run_dir: Path,
) -> dict[str, Any]:
    cache: dict[str, Any] = {}
    ids = evaluation.ids.astype(str)
    surveys = np.array([i.split(":", 1)[0] for i in ids])
    resamples = resample_indices(len(ids), settings.bootstrap, settings.seed)
    path = run_dir / "challenger.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(challenger.model)
    scored, y = _scores(settings, snapshot, ids, path, cache)
    out: dict[str, Any] = {"challenger": evaluate(y, scored, surveys, resamples), "champion": None}
    if champion is not None:
        scored, y = _scores(settings, snapshot, ids, champion.model_path, cache)
        out["champion"] = evaluate(y, scored, surveys, resamples)
    return out


def _lineage(
    settings: RetrainSettings,
    snapshot: LabelSnapshot,
    cfg: Any,
    ds: TripletDataset,
    gate: GateRecord,
    n_trained: int,
) -> dict[str, Any]:
    return {
        "parent": gate.parent,
        "labels": {"count": snapshot.count, "fingerprint": snapshot.fingerprint(), "source": snapshot.source},
        "data": {
            "training_set_fingerprint": ds.fingerprint(),
            "training_ids": n_trained,
            "evaluation_fingerprint": gate.evaluation_fingerprint,
            "evaluation_size": gate.evaluation_size,
            "extra_datasets": list(settings.extra_datasets),
            "unlabelled_alerts": list(settings.unlabelled_alerts),
        },
        "config": cfg.model_dump(),
        "git_revision": git_revision(),
        "gate": asdict(gate),
    }
