"""`rbc inspect`: the JSON contract, the table, and the exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rbc1000.cli.inspect import JSON_KEYS
from rbc1000.cli.main import main
from tests.conftest import read_manifest
from tests.support import hostile


def run_json(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, list[dict[str, Any]]]:
    code = main(["inspect", "--json", *map(str, paths)])
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines]


def test_json_rows_have_exactly_the_documented_keys(
    capsys: pytest.CaptureFixture[str], vendored_alerts: Path
) -> None:
    code, rows = run_json(capsys, vendored_alerts)
    assert code == 0
    assert len(rows) == len(list(vendored_alerts.glob("*.avro")))
    for row in rows:
        assert tuple(row) == JSON_KEYS
        assert row["error"] is None and isinstance(row["alert_id"], str)
    no_cutouts = [r for r in rows if "NO_CUTOUTS" in r["path"]]
    assert no_cutouts and all(r["cutout_shapes"] is None for r in no_cutouts)
    edge = [r for r in rows if r["cutout_shapes"] and r["cutout_shapes"][0] != [63, 63]]
    assert {tuple(r["cutout_shapes"][0]) for r in edge} >= {(63, 55), (63, 42)}


def test_whole_corpus_matches_the_manifest(capsys: pytest.CaptureFixture[str], shared_data: Path) -> None:
    code, rows = run_json(capsys, shared_data)
    assert code == 0
    by_id = {r["alert_id"]: r for r in rows}
    manifest = read_manifest(shared_data / "ztf_alerts_manifest.csv")
    for m in manifest:
        row = by_id[m["candid"]]
        assert row["error"] is None and row["object_id"] == m["objectId"]
        if m["sci_present"] == "True":
            h, w = (int(v) for v in m["sci_shape"].split("x"))
            assert row["cutout_shapes"] == [[h, w]] * 3
            nans = int(m["sci_nan"]) + int(m["tmpl_nan"]) + int(m["diff_nan"])
            assert row["nan_fraction"] == pytest.approx(nans / (3 * h * w), abs=1e-6)
    assert len(rows) == len(manifest) + 25  # plus the LSSTCam alerts


def test_failures_are_printed_and_exit_1(
    capsys: pytest.CaptureFixture[str], vendored_alerts: Path, tmp_path: Path
) -> None:
    good = next(iter(vendored_alerts.glob("fink-broker__*.avro")))
    shutil.copy(good, tmp_path / "good.avro")
    (tmp_path / "bad.avro").write_bytes(good.read_bytes()[:3000])
    code, rows = run_json(capsys, tmp_path)
    assert code == 1
    errors = {Path(r["path"]).name: r["error"] for r in rows}
    assert errors["good.avro"] is None and "truncated" in errors["bad.avro"]


def test_table_output(capsys: pytest.CaptureFixture[str], vendored_alerts: Path) -> None:
    path = vendored_alerts / "ztf-avro-alert__alerts__472263571115115000__schema3.3.avro"
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr()
    assert "472263571115115000" in out.out and "ztf v3.3" in out.out
    assert "1 records, 1 decoded, 0 failed" in out.err


def test_usage_error_exits_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rbc1000.cli.main", "inspect"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "PATH" in proc.stderr


@pytest.mark.parametrize("case", [c for c in hostile.CASES if c.where != "ok"], ids=lambda c: c.name)
def test_hostile_file_is_one_error_line_with_its_reason(
    case: hostile.HostileCase, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.avro"
    bad.write_bytes(case.build())
    assert main(["inspect", str(bad)]) == 1
    out = capsys.readouterr()
    line = out.out.splitlines()[-1]
    assert f"ERROR {case.reason}:" in line and "Traceback" not in out.err
