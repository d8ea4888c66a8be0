"""`rbc-train simulate`, `dataset-info` and `gallery` end to end on the real corpus (small)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rbc1000.train.cli.main import main

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="needs the real alert corpus at ../shared/data")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("sim")
    args = [
        "simulate",
        "--alerts",
        str(CORPUS),
        "--n-real",
        "40",
        "--n-bogus",
        "60",
        "--max-proxy-real",
        "5",
        "--max-proxy-bogus",
        "5",
        "--seed",
        "3",
        "--quiet",
    ]
    assert main([*args, "--out", str(out / "a")]) == 0
    assert main([*args, "--out", str(out / "b")]) == 0
    return out / "a", out / "b"


def test_same_seed_writes_the_same_bytes(built: tuple[Path, Path]) -> None:
    a, b = built
    for name in ("new_real_sim.fits", "new_bogus_sim.fits"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_card_records_recipe_counts_sources_and_splits(built: tuple[Path, Path]) -> None:
    card = json.loads((built[0] / "dataset_card.json").read_text())
    assert sum(card["counts"]["real"].values()) == 40
    assert sum(card["counts"]["bogus"].values()) == 60
    assert card["counts"]["real"]["alert_drb_real"] == 5
    assert card["seed"] == 3 and card["source_alerts"]["n_backgrounds"] > 100
    assert len(card["splits"]["test"]) + len(card["splits"]["pool"]) == 100
    assert "PROXY" in (built[0] / "dataset_card.md").read_text()
    assert 0.0 <= card["mask_check"]["roc_auc"] <= 1.0 and card["mask_check"]["limit"] == 0.55
    assert "Mask shortcut check" in (built[0] / "dataset_card.md").read_text()


def test_dataset_info_reports_families_and_nans(
    built: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dataset-info", str(built[0]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["samples"] == 100 and info["real"] == 40
    assert info["families"]["alert_drb_real"]["proxy"] == 5
    assert info["families"]["streak"]["bogus"] > 0 and info["families"]["fading"]["real"] > 0
    assert info["nan"]["difference"]["stamps_with_nan"] > 0


def test_gallery_writes_a_png(built: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert main(["gallery", str(built[0]), "--out", str(out), "--per-group", "2"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset-info", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(["simulate", "--alerts", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
