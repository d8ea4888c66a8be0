"""`rbc score` over the vendored real alerts: records, dead letters, summary and picture."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.alerts.sources import iter_alerts
from rbc1000.cli.main import main
from rbc1000.model.decisions import ScoredAlert, score_batch
from rbc1000.model.scoring import Scorer
from rbc1000.stream.records import read_records
from tests.support import hostile
from tests.support.model_factory import write_tiny_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="module")
def expected(vendored_alerts: Path) -> dict[str, list[str]]:
    """Alert ids (some repeat across files) with and without cutouts, from the decoder."""
    out: dict[str, list[str]] = {"complete": [], "missing": []}
    for path in sorted(vendored_alerts.glob("*.avro")):
        for result in Decoder().decode(path.read_bytes()):
            assert isinstance(result, Alert), f"{path} does not decode: {result}"
            key = "complete" if result.cutouts.complete else "missing"
            out[key].append(str(result.alert_id))
    return out


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory: pytest.TempPathFactory, vendored_alerts: Path, model: Path) -> Path:
    out = tmp_path_factory.mktemp("score") / "scored.jsonl"
    code = main(
        [
            "score",
            str(vendored_alerts),
            "--out",
            str(out),
            "--model",
            str(model),
            "--batch-size",
            "16",
            "--intra-op-threads",
            "1",
        ]
    )
    assert code == 0
    return out


def test_one_record_per_alert_with_cutouts(scored_run: Path, expected: dict[str, list[str]]) -> None:
    rows = read_records(scored_run)
    assert expected["complete"] and expected["missing"]
    assert sorted(str(r["alert_id"]) for r in rows) == sorted(expected["complete"])
    assert {r["decision"] for r in rows} <= {"real", "bogus", "uncertain"}
    assert all(r["model_name"] == "rbc-tiny-test" for r in rows)
    assert {r["survey"] for r in rows} == {"ztf", "lsst"}


def test_dead_letters_for_alerts_without_cutouts(scored_run: Path, expected: dict[str, list[str]]) -> None:
    dead_path = scored_run.with_name("scored.deadletter.jsonl")
    dead = [json.loads(line) for line in dead_path.read_text().splitlines()]
    assert sorted(d["alert_id"] for d in dead) == sorted(expected["missing"])
    assert {d["reason"] for d in dead} == {"missing_cutouts"}
    assert all(Path(d["path"]).is_file() for d in dead)


def test_summary_and_gallery(scored_run: Path, expected: dict[str, list[str]]) -> None:
    summary = json.loads(scored_run.with_name("scored.summary.json").read_text())
    assert summary["scored"] == len(expected["complete"])
    assert summary["dead_lettered"] == len(expected["missing"])
    assert sum(summary["decisions"].values()) == summary["scored"]
    assert summary["errors"] == {"missing_cutouts": len(expected["missing"])}
    assert summary["surveys"]["lsst"]["scored"] >= 1
    gallery = scored_run.with_name("scored.gallery.png")
    assert gallery.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_p_real_matches_scoring_each_alert_alone(
    scored_run: Path, vendored_alerts: Path, model: Path
) -> None:
    scorer = Scorer.load(model, "cpu")
    alone = {}
    for _, _, result in iter_alerts([vendored_alerts]):
        (outcome,) = score_batch([result], scorer)
        if isinstance(outcome, ScoredAlert):
            alone[str(outcome.alert.alert_id)] = outcome.p_real
    rows = read_records(scored_run)
    got = np.array([float(r["p_real"]) for r in rows])
    want = np.array([alone[str(r["alert_id"])] for r in rows])
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_avro_output_keeps_packets_and_tarballs_are_read(
    tmp_path: Path, vendored_alerts: Path, model: Path
) -> None:
    files = sorted(vendored_alerts.glob("fink-broker__ztf_v4.02__*.avro"))[:3]
    archive = tmp_path / "alerts.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in files:
            tar.add(f, arcname=f.name)
    out = tmp_path / "scored.avro"
    assert main(["score", str(archive), "--out", str(out), "--model", str(model), "--gallery", "0"]) == 0
    rows = read_records(out)
    assert sorted(r["alert_packet"] for r in rows) == sorted(f.read_bytes() for f in files)
    assert not (tmp_path / "scored.gallery.png").exists()


def test_errors_say_what_to_do(
    tmp_path: Path, vendored_alerts: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "score",
                str(vendored_alerts),
                "--out",
                str(tmp_path / "x.csv"),
                "--model",
                str(tmp_path / "absent.onnx"),
            ]
        )
        == 2
    )
    assert "rbc-train export" in capsys.readouterr().err
    assert (
        main(["score", str(vendored_alerts), "--out", str(tmp_path / "x.parquet"), "--model", str(model)])
        == 2
    )
    assert ".jsonl" in capsys.readouterr().err


def test_bad_files_are_dead_lettered_and_good_ones_scored(
    tmp_path: Path, vendored_alerts: Path, model: Path, expected: dict[str, list[str]]
) -> None:
    bad = {case.name: tmp_path / f"{case.name}.avro" for case in hostile.CASES if case.where != "ok"}
    for case in hostile.CASES:
        if case.name in bad:
            bad[case.name].write_bytes(case.build())
    out = tmp_path / "scored.jsonl"
    argv = ["score", *map(str, bad.values()), str(vendored_alerts), "--out", str(out), "--model", str(model)]
    assert main([*argv, "--intra-op-threads", "1", "--gallery", "0"]) == 0
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(scored) == len(expected["complete"])
    dead = [json.loads(line) for line in out.with_name("scored.deadletter.jsonl").read_text().splitlines()]
    reasons = {Path(d["path"]).stem: d["reason"] for d in dead}
    assert {name: reasons.get(name) for name in bad} == {
        case.name: case.reason for case in hostile.CASES if case.name in bad
    }


def test_decode_limit_flags_reach_the_decoder(tmp_path: Path, model: Path) -> None:
    big = tmp_path / "big.avro"
    big.write_bytes(hostile.big_legal_alert())
    out = tmp_path / "scored.jsonl"
    argv = ["score", str(big), "--out", str(out), "--model", str(model), "--gallery", "0"]
    assert main([*argv, "--decode-limits-max-stamp-pixels", str(63 * 63)]) == 0
    [dead] = [json.loads(line) for line in out.with_name("scored.deadletter.jsonl").read_text().splitlines()]
    assert dead["reason"] == "limit_exceeded" and "decode_limits.max_stamp_pixels" in dead["detail"]
    assert main(argv) == 0
    assert len(out.read_text().splitlines()) == 1  # scored under the default cap
