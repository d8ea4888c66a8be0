"""The label-efficiency figure and `rbc-train compare` across runs, on hand-made run directories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rbc1000.train.cli.main import main as rbc_train
from rbc1000.train.report.run_report import label_efficiency, load_stages

KEYS = (("its", "ITS"), ("als", "ALS"), ("ssls1", "SSLS R=1"), ("full", "Full supervision"))


def fake_run(directory: Path, sums: list[float]) -> Path:
    """A run directory whose stages have the given test Sums (and MCC = Sum / 600)."""
    for number, ((key, label), total) in enumerate(zip(KEYS, sums, strict=False)):
        stage = directory / "stages" / f"{number}_{key}"
        stage.mkdir(parents=True)
        record = {
            "key": key,
            "label": label,
            "best_epoch": 1,
            "n_train": 10,
            "n_val": 5,
            "seconds": 1.0,
            "test_metrics": {"Sum": total, "MCC": total / 600},
            "info": {},
        }
        (stage / "stage.json").write_text(json.dumps(record))
        (stage / "history.json").write_text("[]")
        np.savez(stage / "scores.npz", test_y=np.array([0, 1]), test_p=np.array([0.2, 0.9]))
    return directory


def test_label_efficiency_is_the_share_of_the_its_to_full_gap(tmp_path: Path) -> None:
    stages = load_stages(fake_run(tmp_path / "a", [500.0, 510.0, 530.0, 540.0]))
    gap = label_efficiency(stages)
    assert gap["final_stage"] == "SSLS R=1"
    assert gap["label_efficiency_gap_sum"] == pytest.approx(10.0)
    assert gap["gap_closed_fraction"] == pytest.approx(0.75)


def test_label_efficiency_without_a_gap_or_a_full_stage(tmp_path: Path) -> None:
    no_gap = load_stages(fake_run(tmp_path / "a", [550.0, 540.0, 545.0, 549.0]))
    assert label_efficiency(no_gap)["gap_closed_fraction"] is None
    assert label_efficiency(load_stages(fake_run(tmp_path / "b", [500.0, 510.0]))) == {}


def test_compare_tabulates_runs_with_mean_spread_and_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = fake_run(tmp_path / "s0", [500.0, 510.0, 530.0, 540.0])
    b = fake_run(tmp_path / "s1", [520.0, 515.0, 540.0, 545.0])
    out = tmp_path / "cmp.md"
    assert rbc_train(["compare", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| SSLS R=1 | 530.00 | 540.00 | 535.00 | 7.07 |" in printed
    assert "75%, 80% (mean 78%)" in printed
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["gap_closed"] == pytest.approx([0.75, 0.8])
    assert rbc_train(["compare", str(a), "--metric", "MCC"]) == 0
    assert "| ITS | 83.33 |" in capsys.readouterr().out


def test_compare_refuses_a_directory_without_stages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rbc_train(["compare", str(tmp_path)]) == 2
    assert "no finished stage" in capsys.readouterr().err
