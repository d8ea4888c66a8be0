"""`rbc-train export` declares only surveys it evaluated, and writes nothing when the gate fails.

The run directory is built by hand around a network whose output is the same for every
input (its last layer is zero): ROC-AUC exactly 0.5, no better than chance, so the gate
(bootstrap lower bound > 0.5) must refuse it whatever the alerts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from rbc1000.model.gate import gate_from_metadata
from rbc1000.model.policy import policy_from_metadata
from rbc1000.train.cli.main import main as rbc_train
from rbc1000.train.method.config import load_config, save_config
from rbc1000.train.nn.fp16 import fp16_path
from rbc1000.train.nn.networks import build_model
from tests.unit.train.test_stages import write_braai


@pytest.fixture(scope="module")
def chance_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run (braai data only, so every vendored alert is unseen) of a constant network."""
    root = tmp_path_factory.mktemp("chance")
    data = write_braai(root)
    run_dir = root / "run"
    stage = run_dir / "stages" / "0_its"
    stage.mkdir(parents=True)
    cfg = load_config(
        None, {"datasets": [str(data)], "run_dir": str(run_dir), "m_initial": 60, "unlabelled": 100}
    )
    save_config(cfg, run_dir / "config.yaml")
    torch.manual_seed(0)
    net = build_model("compact")
    last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    torch.save({"model": "compact", "state": net.state_dict()}, stage / "model.pt")
    (stage / "stage.json").write_text(json.dumps({"key": "its", "label": "ITS", "test_metrics": {}}))
    np.savez(stage / "scores.npz", val_y=np.array([0, 1, 0, 1]), val_p=np.array([0.5, 0.5, 0.5, 0.5]))
    env = {"dataset_fingerprint": "none", "dataset_name": "tiny braai"}
    (run_dir / "environment.json").write_text(json.dumps(env))
    np.save(
        run_dir / "parity_inputs.npy", np.random.default_rng(0).normal(size=(8, 3, 63, 63)).astype(np.float32)
    )
    return run_dir


def _export(run: Path, out: Path, *extra: str) -> int:
    return rbc_train(["export", str(run), "--out", str(out), "--bootstrap", "100", *extra])


def test_export_refuses_a_survey_without_its_own_alerts(
    chance_run: Path, vendored_alerts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.onnx"
    assert _export(chance_run, out, "--survey", f"lsst=proxy:{vendored_alerts}") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lsst" in err and "no labelled lsst alerts" in err
    assert _export(chance_run, out, "--survey", "lsst=") == 2
    assert "no alerts given" in capsys.readouterr().err
    assert _export(chance_run, out, "--survey", "ztf=proxy:../no/such/alerts") == 2
    assert _export(chance_run, out, "--policy-band", "0.5,0.8") == 2  # must straddle 0.5
    assert "straddle" in capsys.readouterr().err
    assert not out.exists()


def test_export_refuses_a_model_no_better_than_chance(
    chance_run: Path, vendored_alerts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.onnx"
    survey = ["--survey", f"ztf=proxy:{vendored_alerts}"]
    assert _export(chance_run, out, *survey) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gate failed, nothing written" in err and "0.5" in err
    assert not out.exists()
    assert _export(chance_run, out) == 1  # no survey declared: no evaluation, no gate
    assert "no survey declared" in capsys.readouterr().err and not out.exists()

    assert _export(chance_run, out, *survey, "--allow-failed-gate", "--fp16") == 0
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    gate = gate_from_metadata(meta)
    assert gate is not None and gate.passed is False and gate.evaluation_per_survey["ztf"] > 0
    policy = policy_from_metadata(meta, 0.0, (0.0, 0.0))
    assert set(policy.surveys) == {"ztf"} and policy.calibration is not None
    low, high = policy.surveys["ztf"].band
    assert low < policy.surveys["ztf"].threshold < high
    assert fp16_path(out).is_file()  # the FP16 variant of the calibrated graph passes its parity check
