"""`rbc-train simulate --format avro`: packets the service's decoder reads, truth that matches them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import fastavro
import pytest

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.cli.main import main as rbc_main
from rbc1000.train.cli.main import main as train_main
from rbc1000.train.cli.simulate import first_alert_id

ALERTS = Path(__file__).parents[2] / "data" / "alerts"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim-avro")
    argv = ["simulate", "--alerts", str(ALERTS), "--out", str(out), "--format", "avro"]
    assert train_main([*argv, "--n-real", "6", "--n-bogus", "9", "--seed", "3", "--quiet"]) == 0
    return out


def test_packets_decode_as_ztf_4_02_and_truth_matches(simulated: Path) -> None:
    with (simulated / "truth.csv").open(newline="") as fh:
        truth = list(csv.DictReader(fh))
    assert [r["label"] for r in truth].count("real") == 6 and len(truth) == 15
    assert {r["label"] for r in truth[:8]} == {"real", "bogus"}  # shuffled, not one class then the other
    files = sorted(simulated.glob("packets/*.avro"))
    assert [f.stem for f in files] == sorted(r["alert_id"] for r in truth)
    assert int(truth[0]["alert_id"]) == first_alert_id(3)
    by_id = {r["alert_id"]: r for r in truth}
    for path in files:
        (alert,) = Decoder().decode(path.read_bytes())
        assert isinstance(alert, Alert), alert
        assert alert.survey == "ztf" and alert.schema_version == "4.02"
        row = by_id[str(alert.alert_id)]
        assert alert.object_id == row["object_id"] and row["sample_id"].startswith("sim3-" + row["label"])
        assert alert.drb is None  # the template's own score would pose as truth


def test_rbc_inspect_reads_every_packet(simulated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert rbc_main(["inspect", str(simulated / "packets")]) == 0
    captured = capsys.readouterr()
    assert "15 records, 15 decoded, 0 failed" in captured.err
    assert captured.out.count(" ztf v4.02 ") == 15


def test_same_seed_same_bytes(simulated: Path, tmp_path: Path) -> None:
    argv = ["simulate", "--alerts", str(ALERTS), "--out", str(tmp_path), "--format", "avro"]
    assert train_main([*argv, "--n-real", "6", "--n-bogus", "9", "--seed", "3", "--quiet"]) == 0
    assert (tmp_path / "truth.csv").read_bytes() == (simulated / "truth.csv").read_bytes()
    first = sorted(simulated.glob("packets/*.avro"))[0]
    assert _records(tmp_path / "packets" / first.name) == _records(first)  # sync markers are random


def _records(path: Path) -> list[Any]:
    with path.open("rb") as fh:
        return list(fastavro.reader(fh))
