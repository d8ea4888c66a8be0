"""Each hostile input of issue 19 through the file commands, placed before good alerts:
`rbc score` exits 0 and `rbc inspect` exits 1 (its status when a record failed) or 0 (the
legal one), never with a traceback; both report the hostile file (a dead letter or an error
row) and still score or list every good alert, under 512 MB peak RSS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.report import CaseReport, check_targets, reported
from tests.faults.rss import RssWatch
from tests.faults.traffic import VENDORED
from tests.support.hostile import BASE_ALERT, CASES, HostileCase

GOOD_FILES = 8
MAX_RSS_MB = 512.0
COMMAND_TIMEOUT_S = 240

pytestmark = [pytest.mark.faults_slow]


def rbc_env() -> dict[str, str]:
    """The environment without RBC_ variables: the commands refuse ones they do not know."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RBC_")}


def run_measured(argv: list[str], cwd: Path, report: CaseReport) -> subprocess.CompletedProcess[str]:
    """Run an `rbc` command with its RSS watched; a command past the time limit is killed."""
    rbc = Path(sys.executable).parent / "rbc"
    with (cwd / "stdout").open("w+") as out, (cwd / "stderr").open("w+") as err:
        proc = subprocess.Popen([str(rbc), *argv], cwd=cwd, env=rbc_env(), stdout=out, stderr=err, text=True)
        watch = RssWatch(proc.pid)
        try:
            proc.wait(COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            report.notes["timed_out_s"] = COMMAND_TIMEOUT_S
        report.peak_rss_mb = watch.close()
        report.notes["killed_at_rss_cap"] = watch.capped
        report.exit_codes = [proc.returncode]
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())


@pytest.fixture(scope="module")
def good_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GOOD_FILES complete real alerts (not the one the hostile packets are built from)."""
    folder = tmp_path_factory.mktemp("good")
    complete = [p for p in sorted(VENDORED.glob("*.avro")) if "NO_CUTOUTS" not in p.name and p != BASE_ALERT]
    for path in complete[:GOOD_FILES]:
        shutil.copy(path, folder / path.name)
    return folder


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


@pytest.fixture(scope="module")
def good_ids(good_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> set[object]:
    """The alert ids `rbc score` gives the good alerts on their own: the reference."""
    out = tmp_path_factory.mktemp("reference") / "ref.jsonl"
    rbc = Path(sys.executable).parent / "rbc"
    argv = [str(rbc), "score", str(good_dir), "--out", str(out)]
    subprocess.run(argv, env=rbc_env(), check=True)
    ids = {row["alert_id"] for row in read_jsonl(out)}
    assert len(ids) == GOOD_FILES
    return ids


@pytest.mark.timeout(600)
@pytest.mark.parametrize("hostile", CASES, ids=[c.name for c in CASES])
def test_hostile_file_through_score(
    hostile: HostileCase, good_dir: Path, good_ids: set[object], tmp_path: Path
) -> None:
    bad = tmp_path / "hostile.avro"
    bad.write_bytes(hostile.build())
    with reported(f"file_score:{hostile.name}") as report:
        done = run_measured(
            ["score", str(bad), str(good_dir), "--out", "out.jsonl"],
            tmp_path,
            report,
        )
        scored, dead = read_jsonl(tmp_path / "out.jsonl"), read_jsonl(tmp_path / "out.deadletter.jsonl")
        scored_ids = Counter(row["alert_id"] for row in scored)
        hostile_seen = any(row["path"] == str(bad) for row in dead) or bool(set(scored_ids) - good_ids)
        report.inputs = len(good_ids) + 1
        report.scored, report.dead_lettered = len(scored), len(dead)
        report.lost = len(good_ids - set(scored_ids)) + (0 if hostile_seen else 1)
        report.duplicated = sum(n - 1 for n in scored_ids.values())
        report.notes["hostile_reasons"] = dict(
            Counter(row["reason"] for row in dead if row["path"] == str(bad))
        )
        report.notes["expected_reason"] = hostile.reason
        if done.returncode != 0:
            report.notes["stderr_tail"] = done.stderr[-300:]
    check_targets(report, max_duplicates=0, max_rss_mb=MAX_RSS_MB)
    assert report.exit_codes == [0], report.notes.get("stderr_tail")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("hostile", CASES, ids=[c.name for c in CASES])
def test_hostile_file_through_inspect(hostile: HostileCase, good_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "hostile.avro"
    bad.write_bytes(hostile.build())
    good = sorted(str(p) for p in good_dir.glob("*.avro"))
    with reported(f"file_inspect:{hostile.name}") as report:
        done = run_measured(["inspect", "--json", str(bad), str(good_dir)], tmp_path, report)
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        listed = {row["path"] for row in rows if not row.get("error")}
        report.inputs = len(good) + 1
        report.scored = len(listed)  # alerts listed without an error
        report.dead_lettered = sum(1 for row in rows if row.get("error"))
        report.lost = len(set(good) - listed) + (0 if any(row["path"] == str(bad) for row in rows) else 1)
        report.notes["traceback"] = "Traceback" in done.stderr
        errors = [str(row["error"])[:120] for row in rows if row["path"] == str(bad) and row.get("error")]
        report.notes["hostile_errors"] = dict(Counter(error.split(":")[0] for error in errors))
        report.notes["first_error"] = errors[0] if errors else None
        if report.notes["traceback"]:
            report.notes["stderr_tail"] = done.stderr[-300:]
    check_targets(report, max_duplicates=0, max_rss_mb=MAX_RSS_MB)
    assert report.exit_codes == [1 if errors else 0], done.stderr[-2000:]
    assert not report.notes["traceback"], report.notes.get("stderr_tail")
