"""The whole pipeline on tiny data: stages, table, resume, export parity and evaluation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import rbc1000.train.method.stages as pipeline
from rbc1000.model.contract import ModelInfo
from rbc1000.model.preprocessing import PREPROCESSING_VERSION
from rbc1000.train.cli.main import main as rbc_train
from rbc1000.train.method.config import RunConfig, load_config
from rbc1000.train.nn.export import ExportError, check_parity, to_onnx_bytes
from rbc1000.train.nn.networks import build_model
from rbc1000.train.nn.trainer import train_stage

N = 240
TINY = [
    "--m-initial",
    "60",
    "--k-select",
    "16",
    "--unlabelled",
    "100",
    "--rounds",
    "2",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--lr",
    "0.003",
    "--min-updates",
    "40",  # a teacher of a handful of steps is sure of one class only: the round would be empty
    "--no-progress",
    "--threads",
    "1",
]


def write_braai(directory: Path, n: int = N, seed: int = 0) -> Path:
    """Raw stamps in braai's format: reals carry a PSF-like blob in the difference stamp."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    stamps = rng.normal(100, 5, (n, 63, 63, 3)).astype(np.float32)
    yy, xx = np.mgrid[:63, :63]
    blob = np.exp(-((yy - 31) ** 2 + (xx - 31) ** 2) / 6.0)
    for i in range(n):
        if y[i]:
            stamps[i, :, :, 2] += 60 * blob
            stamps[i, :, :, 0] += 60 * blob
        else:
            stamps[i, 31, 20 + i % 20, 2] += 200
    path = directory / "tiny.npy"
    np.save(path, stamps)
    with (directory / "tiny.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["candid", "label"])
        writer.writerows([[1000 + i, int(label)] for i, label in enumerate(y)])
    return path


@pytest.fixture(scope="module")
def data_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_braai(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def finished_run(data_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "full"
    rc = rbc_train(
        ["run", "--datasets", str(data_path), "--run-dir", str(run_dir), "--supervised-all", *TINY]
    )
    assert rc == 0
    return run_dir


class SimulatedCrash(RuntimeError):
    """Stands for a kill in the middle of a stage."""


def _sums(run_dir: Path) -> list[tuple[str, float]]:
    rows = json.loads((run_dir / "table.json").read_text())["rows"]
    return [(r["stage"], r["Sum"]) for r in rows]


def test_whole_pipeline_writes_stage_table_and_report(finished_run: Path, data_path: Path) -> None:
    labels = [label for label, _ in _sums(finished_run)]
    assert labels == ["ITS", "ALS", "SSLS R=1", "SSLS R=2", "Full supervision"]
    table = (finished_run / "table.md").read_text()
    assert "| Pre | Acc | Rec | F1 | MCC | AP | Sum | std_AP | ROC_AUC |" in table
    sums = dict(_sums(finished_run))
    summary = json.loads((finished_run / "table.json").read_text())
    assert summary["label_efficiency_gap_sum"] == pytest.approx(sums["Full supervision"] - sums["SSLS R=2"])
    assert "Full supervision minus SSLS R=2" in table
    for name in ("metrics_per_stage", "roc_pr", "score_histograms", "confusion_matrices", "training_curves"):
        assert (finished_run / "plots" / f"{name}.png").stat().st_size > 1000
    als = json.loads((finished_run / "stages/1_als/selection.json").read_text())
    assert len(als["chosen"]) == 16  # exactly K went to the experts
    assert als["kept"] == als["chosen"]  # and every one of their labels is used
    als_record = json.loads((finished_run / "stages/1_als/stage.json").read_text())
    assert als_record["n_train"] == 36 + als["kept_val"].count(False)  # M's training part + K's
    assert "family_recall" in als_record  # per family, where the dataset names families
    history = json.loads((finished_run / "stages/0_its/history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, 21))  # 40 updates of 2 batches
    from rbc1000.train.data.loaders import load_dataset

    env = json.loads((finished_run / "environment.json").read_text())
    assert env["dataset_fingerprint"] == load_dataset(str(data_path)).fingerprint()
    assert "torch" in env["libraries"]
    assert "epochs: 2" in (finished_run / "config.yaml").read_text()


def test_resume_after_interruption_finishes_the_same_run(
    finished_run: Path, data_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "interrupted"
    real_train = train_stage  # what the pipeline calls; the patches below wrap it
    calls: list[str] = []

    def dies_on_third(*args: object, **kwargs: object) -> object:
        calls.append(str(kwargs.get("desc")))
        if len(calls) == 3:
            raise SimulatedCrash("killed during SSLS R=1")
        return real_train(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "train_stage", dies_on_third)
    args = ["run", "--datasets", str(data_path), "--run-dir", str(run_dir), "--supervised-all", *TINY]
    with pytest.raises(SimulatedCrash):
        rbc_train(args)
    assert not (run_dir / "stages/2_ssls1/stage.json").exists()
    calls.clear()

    def counts(*args: object, **kwargs: object) -> object:
        calls.append(str(kwargs.get("desc")))
        return real_train(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "train_stage", counts)
    assert rbc_train(args) == 0
    assert len(calls) == 3  # SSLS R=1, R=2 and full supervision; ITS and ALS were loaded
    assert _sums(run_dir) == _sums(finished_run)  # seeded: resuming changes nothing


def test_resume_refuses_other_settings(finished_run: Path) -> None:
    cfg = RunConfig.model_validate(
        {**load_config(finished_run / "config.yaml", {}).model_dump(), "epochs": 7}
    )
    with pytest.raises(ValueError, match="epochs"):
        pipeline.prepare_run_dir(cfg)


def test_export_meets_the_contract_and_parity(finished_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    assert rbc_train(["export", str(finished_run), "--out", str(out), "--allow-failed-gate"]) == 0
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    info = ModelInfo.from_metadata({p.key: p.value for p in model.metadata_props})
    assert info.preprocessing_version == PREPROCESSING_VERSION
    assert info.low_confidence[0] <= info.threshold <= info.low_confidence[1]
    stage = json.loads((finished_run / "stages/3_ssls2/stage.json").read_text())
    assert info.test_metrics()["Sum"] == pytest.approx(stage["test_metrics"]["Sum"])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.load(finished_run / pipeline.PARITY_FILE)
    for batch in (1, 7):
        got = session.run(["p_real"], {"triplets": x[:batch]})[0]
        assert got.shape == (batch,) and got.dtype == np.float32
    checkpoint = torch.load(finished_run / "stages/3_ssls2/model.pt")
    net = build_model(checkpoint["model"])
    net.load_state_dict(checkpoint["state"])
    assert check_parity(model, net, x) <= 1e-4
    with pytest.raises(ExportError):
        check_parity(model, build_model(checkpoint["model"]), x)  # other weights: must fail


def test_evaluate_reproduces_the_run_test_metrics(
    finished_run: Path, data_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.onnx"
    assert (
        rbc_train(["export", str(finished_run), "--out", str(out), "--stage", "als", "--allow-failed-gate"])
        == 0
    )
    report = tmp_path / "eval.json"
    assert rbc_train(["evaluate", str(out), str(data_path), "--json", str(report)]) == 0
    got = json.loads(report.read_text())["metrics"]
    want = json.loads((finished_run / "stages/1_als/stage.json").read_text())["test_metrics"]
    for name in ("Pre", "Acc", "Rec", "F1", "MCC", "AP", "Sum"):
        assert got[name] == pytest.approx(want[name], abs=1e-6), name


def test_evaluate_unseen_by_a_run_keeps_only_what_it_never_trained_on(
    finished_run: Path, data_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.onnx"
    assert (
        rbc_train(["export", str(finished_run), "--out", str(out), "--stage", "als", "--allow-failed-gate"])
        == 0
    )
    report = tmp_path / "eval.json"
    # The run also trained full supervision on the whole pool: only its test split is unseen.
    assert (
        rbc_train(
            [
                "evaluate",
                str(out),
                str(data_path),
                "--split",
                "all",
                "--unseen-by",
                str(finished_run),
                "--json",
                str(report),
            ]
        )
        == 0
    )
    got = json.loads(report.read_text())
    want = json.loads((finished_run / "stages/1_als/stage.json").read_text())["test_metrics"]
    from rbc1000.train.data.loaders import load_dataset
    from rbc1000.train.method.run_data import ensure_splits

    assert got["n"] == ensure_splits(load_dataset(str(data_path))).splits["test"].size
    assert got["metrics"]["Sum"] == pytest.approx(want["Sum"], abs=1e-6)
    assert rbc_train(["evaluate", str(out), str(data_path), "--unseen-by", str(tmp_path)]) == 2


def test_trained_ids_are_the_labels_and_the_pool_of_the_run(data_path: Path, tmp_path: Path) -> None:
    from rbc1000.train.data.loaders import load_dataset
    from rbc1000.train.method.config import save_config
    from rbc1000.train.method.run_data import plan_for, trained_ids

    cfg = RunConfig(datasets=[str(data_path)], m_initial=60, unlabelled=100)
    save_config(cfg, tmp_path / "config.yaml")
    ds = load_dataset(str(data_path))
    plan = plan_for(cfg, ds)
    seen = trained_ids(tmp_path)
    assert len(seen) == 160  # M + the unlabelled pool; no full supervision in this config
    assert seen == set(ds.ids[np.concatenate([plan.labelled, plan.unlabelled])].astype(str))
    assert seen.isdisjoint(ds.ids[plan.test].astype(str))


def test_joined_datasets_drop_repeated_ids_and_keep_splits() -> None:
    from rbc1000.train.data.dataset import TripletDataset
    from rbc1000.train.method.run_data import concatenate

    def make(ids: list[str], test: list[int], name: str) -> TripletDataset:
        n = len(ids)
        x = np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 3, 63, 63), np.float32)
        return TripletDataset(
            x,
            np.array([i % 2 for i in range(n)]),
            np.array(ids),
            np.zeros(n, bool),
            np.full(n, name),
            name,
            {"test": np.array(test), "pool": np.setdiff1d(np.arange(n), test)},
        )

    joined = concatenate([make(["a", "b", "c"], [0], "sim"), make(["b", "d", "e"], [1], "px")])
    assert joined.ids.tolist() == ["a", "b", "c", "d", "e"]
    assert joined.ids[joined.splits["test"]].tolist() == ["a", "d"]
    assert joined.ids[joined.splits["pool"]].tolist() == ["b", "c", "e"]
    assert joined.x[4, 0, 0, 0] == 2.0  # "e" keeps its own pixels


def test_coordinate_channel_model_exports_with_parity() -> None:
    torch.manual_seed(0)
    net = build_model("compact-coord").eval()
    assert "radius" not in net.state_dict()  # a fixed input channel, not a weight
    model = onnx.load_from_string(to_onnx_bytes(net))
    assert [i.name for i in model.graph.input] == ["triplets"]
    x = np.random.default_rng(0).normal(size=(8, 3, 63, 63)).astype(np.float32)
    assert check_parity(model, net, x) <= 1e-4


def test_an_empty_ssls_round_stops_the_run_unless_told_to_skip(
    data_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import rbc1000.train.method.ssls as ssls
    from rbc1000.train.method.pseudo_label import PseudoLabels

    def nothing(p: np.ndarray, threshold: float, real_fraction: float) -> PseudoLabels:
        return PseudoLabels(np.empty(0, np.int64), np.empty(0, np.int64), 0)

    monkeypatch.setattr(ssls, "pseudo_label", nothing)
    run_dir = tmp_path / "empty"
    args = ["run", "--datasets", str(data_path), "--run-dir", str(run_dir), *TINY]
    assert rbc_train(args) == 2
    assert "ssls1: zero pseudo-labels" in capsys.readouterr().err
    assert not (run_dir / "stages/2_ssls1/stage.json").exists()
    assert rbc_train([*args, "--skip-empty-rounds"]) == 0
    report = (run_dir / "report.md").read_text()
    assert "Skipped SSLS rounds (zero pseudo-labels): SSLS R=1 (skipped), SSLS R=2 (skipped)" in report


def test_real_alerts_join_the_unlabelled_pool_and_count_as_seen(
    data_path: Path, vendored_alerts: Path, tmp_path: Path
) -> None:
    from rbc1000.train.method.run_data import trained_ids

    run_dir = tmp_path / "with-alerts"
    spec = f"alerts:{vendored_alerts}"
    args = ["run", "--datasets", str(data_path), "--run-dir", str(run_dir), "--unlabelled-alerts", spec]
    assert rbc_train([*args, *TINY, "--rounds", "1", "--pseudo-threshold", "0.51"]) == 0
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["counts"]["unlabelled_real_alerts"] > 30
    ssls1 = json.loads((run_dir / "stages/2_ssls1/stage.json").read_text())
    assert ssls1["info"]["n_pseudo"] > 0
    seen = trained_ids(run_dir)
    assert sum(i.startswith("ztf:") for i in seen) > 30


def test_evaluate_on_real_alerts_reports_rb_and_drb_beside_the_model(
    finished_run: Path, vendored_alerts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.onnx"
    assert (
        rbc_train(["export", str(finished_run), "--out", str(out), "--stage", "als", "--allow-failed-gate"])
        == 0
    )
    report = tmp_path / "eval.json"
    spec = f"proxy:{vendored_alerts}"
    args = ["evaluate", str(out), spec, "--split", "all", "--bootstrap", "50", "--json", str(report)]
    assert rbc_train(args) == 0
    real = json.loads(report.read_text())["real_alerts"]
    assert set(real["roc_auc"]) == {"model", "rb", "drb", "model - rb"}
    assert real["roc_auc"]["drb"]["roc_auc"] == pytest.approx(1.0)  # the labels are drb's own
    for row in real["roc_auc"].values():
        assert row["low"] <= row["roc_auc"] <= row["high"]
    assert real["nonfinite_scores"] == 0
    assert set(real["mask_loss"]) == {"masked", "unmasked", "ratio"}
