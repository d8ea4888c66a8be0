"""The retraining job: the gate keeps a worse challenger out, promotion is gated and recorded,
evaluation alerts never train, and a run without new labels does nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from rbc1000.model.gate import KEY_GATE, GateRecord, GateRule
from rbc1000.model.registry import ModelRegistry, current_model_path
from rbc1000.model.scoring import Scorer
from rbc1000.train.cli.main import main as train_main
from rbc1000.train.data.loaders import load_dataset
from rbc1000.train.data.ztf_packets import PacketWriter
from rbc1000.train.retrain.challenger import Challenger, run_config
from rbc1000.train.retrain.compare import decide
from rbc1000.train.retrain.data import LeakError, check_disjoint, joined, split_human, training_ids, without
from rbc1000.train.retrain.evaluation import EvaluationSet, in_evaluation
from rbc1000.train.retrain.job import run_once
from rbc1000.train.retrain.settings import RetrainSettings
from tests.support.model_factory import tiny_info, tiny_model

TEMPLATE = Path(__file__).parents[2] / "data" / "alerts" / "fink-broker__ztf_v4.02__2481114533215015024.avro"
TINY_RUN = """\
model: compact
rounds: 0
epochs: 1
lr: 1.0e-9
batch_size: 16
eval_batch_size: 64
min_updates: 0
device: cpu
amp: false
"""


def _stamps(real: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:63, :63]
    amplitude = rng.uniform(40, 80) if real else 0.0
    blob = amplitude * np.exp(-((yy - 31) ** 2 + (xx - 31) ** 2) / 8.0)
    sci = rng.normal(100, 5, (63, 63)) + blob
    ref = rng.normal(100, 5, (63, 63))
    return sci, ref, rng.normal(0, 5, (63, 63)) + blob


def write_export(directory: Path, n: int, seed: int = 0, first_id: int = 3_000_000_000_000_000_000) -> Path:
    """A labels export (`rbc label export` format) of n synthetic ZTF alerts, half real."""
    rng = np.random.default_rng(seed)
    writer = PacketWriter(TEMPLATE)
    (directory / "packets").mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n):
        alert_id, real = first_id + k, k % 2 == 0
        packet = writer.packet(alert_id, f"ZTF99sim{k:05d}", _stamps(real, rng))
        (directory / "packets" / f"{alert_id}.avro").write_bytes(packet)
        rows.append({"alert_id": alert_id, "label": "real" if real else "bogus", "survey": "ztf"})
    with (directory / "labels.csv").open("w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=["alert_id", "label", "survey", "labeller", "labelled_at"])
        out.writeheader()
        out.writerows(rows)
    return directory


def _registry_with(root: Path, scale: float) -> ModelRegistry:
    registry = ModelRegistry(root)
    model = tiny_model(tiny_info(version="v1"), scale=scale).SerializeToString()
    registry.promote(bytes(model), {"parent": None, "gate": None}, why="test champion")
    return registry


def _settings(tmp_path: Path, export: Path, **extra: Any) -> RetrainSettings:
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(TINY_RUN)
    return RetrainSettings(
        model_registry=tmp_path / "registry",
        labels_dir=export,
        run_config=run_yaml,
        bootstrap=50,
        **extra,
    )


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export(tmp_path_factory.mktemp("labels"), 64)


def test_gate_refuses_undertrained_challenger_and_current_stays(tmp_path: Path, export: Path) -> None:
    registry = _registry_with(tmp_path / "registry", scale=1.5)
    outcome = run_once(_settings(tmp_path, export))
    assert outcome["status"] == "kept" and outcome["promoted"] is False
    assert outcome["challenger_roc_auc"] < outcome["champion_roc_auc"] - 0.01
    assert any("failed" in reason for reason in outcome["reasons"])
    export_gate = outcome["gate"]["extra"]["export_gate"]  # the challenger went through export's path
    assert export_gate["extra"]["stage"] == "export" and export_gate["reasons"]
    assert registry.current_version() == "v1"
    assert [v.version for v in registry.versions()] == ["v1"]
    report = registry.root / "runs" / outcome["run_id"]
    assert (report / "report.md").is_file() and (report / "learning_curve.png").is_file()
    assert json.loads((report / "report.json").read_text())["status"] == "kept"

    again = run_once(_settings(tmp_path, export))
    assert again["status"] == "no-op" and "no new labels" in again["reasons"][0]
    assert len(json.loads((registry.root / "runs.json").read_text())) == 1
    assert registry.current_version() == "v1"


def _good_trainer(cfg: Any, ds: Any, version: str, source: str, band_purity: float) -> Challenger:
    info = tiny_info(version=version)
    return Challenger(bytes(tiny_model(info, scale=1.5).SerializeToString()), info, [])


def test_better_challenger_is_promoted_with_gate_and_lineage(tmp_path: Path, export: Path) -> None:
    registry = _registry_with(tmp_path / "registry", scale=-1.5)  # an inverted, worse champion
    from rbc1000.train.retrain import job

    outcome = job.run_once(_settings(tmp_path, export), trainer=_good_trainer)
    assert outcome["status"] == "promoted", outcome["reasons"]
    assert registry.current_version() == "v2" == outcome["challenger_version"]
    meta = {p.key: p.value for p in onnx.load(str(current_model_path(registry.root))).metadata_props}
    gate = GateRecord.from_json(meta[KEY_GATE])
    assert gate.passed and gate.parent == "v1" and gate.evaluation_size == outcome["n_eval"]
    lineage = registry.get("v2").lineage
    assert lineage["parent"] == "v1" and lineage["labels"]["count"] == 64
    assert len(lineage["labels"]["fingerprint"]) == 16 and lineage["git_revision"]
    assert lineage["config"]["datasets"][0].startswith("alerts:")
    assert Scorer.load(current_model_path(registry.root), "cpu", 1).info.version == "v2"


def test_evaluation_alerts_never_in_training(tmp_path: Path, export: Path) -> None:
    evaluation = EvaluationSet(0.3)
    human = load_dataset(f"alerts:{export / 'packets'}?labels={export / 'labels.csv'}")
    split = split_human(human, evaluation)
    eval_ids = set(split.evaluation.ids.astype(str).tolist())
    assert eval_ids and eval_ids == {i for i in human.ids.astype(str) if i in evaluation}
    # The same alerts offered again as an extra (proxy-like) dataset lose their evaluation members.
    extra = without(human, evaluation)
    ds = joined([split.train, extra], split.evaluation)
    cfg = run_config(_settings(tmp_path, export), len(ds.splits["pool"]), tmp_path / "run", ["x"])
    trained = training_ids(cfg, ds)
    assert trained and not (trained & eval_ids)
    assert check_disjoint(cfg, ds, evaluation) == len(trained)
    leaky = joined([human], split.evaluation.subset(np.arange(0)))  # evaluation alerts in the pool
    with pytest.raises(LeakError):
        check_disjoint(
            run_config(_settings(tmp_path, export), len(leaky.y), tmp_path / "r2", ["x"]), leaky, evaluation
        )


def test_evaluation_set_is_append_only_and_keeps_its_fraction(tmp_path: Path) -> None:
    first = EvaluationSet(0.3)
    first.extend(("ztf", str(i)) for i in range(200))
    first.save(tmp_path)
    again = EvaluationSet.load(tmp_path, fraction=0.9)
    assert again.fraction == 0.3 and again.members == first.members
    again.extend(("ztf", str(i)) for i in range(200, 400))
    assert first.members < again.members
    assert all(in_evaluation("ztf", m.split(":")[1], 0.3) for m in again.members)


def _fig(value: float) -> dict[str, float]:
    return {"value": value, "low": value - 0.05, "high": value + 0.05}


def test_gate_rule_tolerance_and_calibration() -> None:
    rule = GateRule(tolerance=0.01, ece_tolerance=0.0)
    champion = {"ROC_AUC": _fig(0.90), "ECE": _fig(0.05)}
    assert decide({"ROC_AUC": _fig(0.895), "ECE": _fig(0.05)}, champion, rule)[0]
    assert not decide({"ROC_AUC": _fig(0.88), "ECE": _fig(0.01)}, champion, rule)[0]
    assert not decide({"ROC_AUC": _fig(0.95), "ECE": _fig(0.06)}, champion, rule)[0]
    assert decide({"ROC_AUC": _fig(0.7), "ECE": _fig(0.2)}, None, rule)[0]
    assert not decide({"ROC_AUC": _fig(0.52), "ECE": _fig(0.2)}, None, rule)[0]


def test_cli_settings_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = train_main(
        [
            "retrain",
            "--model-registry",
            str(tmp_path),
            "--labels-dir",
            str(tmp_path),
            "--labels-url",
            "http://x",
        ]
    )
    assert code == 2
    assert "exactly one of" in capsys.readouterr().err
