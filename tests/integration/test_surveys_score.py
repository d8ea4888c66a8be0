"""`rbc score` with a ZTF-only model over the vendored alerts: the LSSTCam ones get no verdict.

The command runs as a user runs it (a child process, no broker needed); the summary, the
scored file and the printed lines are read back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.model_factory import tiny_info, write_tiny_model


def test_rbc_score_publishes_no_verdict_for_rubin_alerts(vendored_alerts: Path, tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "ztf-only.onnx", tiny_info(surveys=()))  # legacy: ZTF only
    out = tmp_path / "scored.jsonl"
    rbc = Path(sys.executable).parent / "rbc"
    run = subprocess.run(
        [str(rbc), "score", str(vendored_alerts), "--out", str(out), "--model", str(model), "--gallery", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["unscored"] == 5 and summary["decisions"]["unscored"] == 5
    assert summary["surveys"]["lsst"] == {"unscored": 5}
    assert list(summary["models_by_survey"]) == ["ztf"]
    assert "5 unscored (no model for their survey)" in run.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    rubin = [r for r in records if r["survey"] == "lsst"]
    assert len(rubin) == 5 and all(r["p_real"] is None and r["decision"] == "unscored" for r in rubin)
    assert all(r["p_real"] is not None for r in records if r["survey"] == "ztf")


def test_rbc_score_takes_a_model_per_survey(vendored_alerts: Path, tmp_path: Path) -> None:
    ztf = write_tiny_model(tmp_path / "ztf.onnx", tiny_info(version="z", surveys=("ztf",)))
    lsst = write_tiny_model(tmp_path / "lsst.onnx", tiny_info(version="l", surveys=("lsst",)))
    out = tmp_path / "scored.jsonl"
    rbc = Path(sys.executable).parent / "rbc"
    argv = [str(rbc), "score", str(vendored_alerts), "--out", str(out), "--gallery", "0"]
    run = subprocess.run(
        [*argv, "--model", f"ztf={ztf}", "--model", f"lsst={lsst}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    versions = {(r["survey"], r["model_version"]) for r in map(json.loads, out.read_text().splitlines())}
    assert versions == {("ztf", "z"), ("lsst", "l")}
