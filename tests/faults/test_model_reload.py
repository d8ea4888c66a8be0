"""Broken models through hot reload (issue 19, item 4), against the real broker.

`rbc serve` scores a round of the complete vendored alerts with a good model; the model file
is then replaced atomically by a bad one and a second round follows:
- one that gives NaN for some inputs only (it passes the smoke batch and the canary): it must
  be rolled back when it starts producing non-finite scores (or refused at reload), so no
  record carries a non-finite p_real, no good alert is dead-lettered `nonfinite_score`;
- one whose batch dimension is fixed at 4: the contract refuses it at reload and the old
  model keeps serving.
Both: nothing lost, the service never exits, and the stream goes on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.reload_run import GOOD_VERSION, ReloadRun, nan_band_model
from tests.faults.report import CaseReport, check_targets, reported
from tests.faults.traffic import good_alerts
from tests.support.model_factory import fixed_batch_model, tiny_info

pytestmark = [pytest.mark.faults_slow]

NAN_VERSION = "nan-for-some"
FIXED_VERSION = "fixed-batch-4"


def run_reload(run: ReloadRun, new_model: bytes, case: str) -> tuple[CaseReport, dict[str, object]]:
    """Round 1, the reload, round 2 (twice the alerts); the report is emitted and checked
    against the targets every case shares (nothing lost or duplicated, no exit)."""
    values = good_alerts()
    with reported(case) as report:
        try:
            run.member.start()
            report.notes["stream_stopped"] = run.round(values)
            run.reload(new_model)
            report.notes["stream_stopped"] = report.notes["stream_stopped"] or run.round(values * 2)
            run.round_size = len(values)
            run.metrics_into(report)
        finally:
            run.member.stop()
            report.exit_codes = run.member.exit_codes()
            report.peak_rss_mb = run.member.peak_mb()
        seen = run.tally_into(report)
        report.notes["reload_log"] = run.log_lines("model_reload", "model_rolled_back", "ContractError")[:6]
        if report.exit_codes != [0]:
            report.notes["crashes"] = run.member.crash_lines()
    check_targets(report, max_duplicates=0)
    assert report.exit_codes == [0], f"the service exited: {report.exit_codes}\n{run.member.log_tail()}"
    return report, seen


@pytest.mark.timeout(600)
def test_model_nan_after_reload(bootstrap: str, tmp_path: Path) -> None:
    bad = nan_band_model(NAN_VERSION).SerializeToString()
    report, seen = run_reload(ReloadRun(bootstrap, tmp_path), bad, "model_nan_after_reload")
    notes, line = report.notes, report.as_json()
    assert seen["nonfinite"] == 0, f"records published with a non-finite p_real\n{line}"
    assert notes["nonfinite_score_dead_letters"] == 0, f"good alerts dead-lettered nonfinite_score\n{line}"
    assert report.dead_lettered == 0, f"good alerts dead-lettered\n{line}"
    handled = notes["reloads_rolled_back"] >= 1 or notes["reloads_refused"] >= 1
    assert handled, f"the NaN model was neither rolled back nor refused\n{line}"
    assert notes["serving_version_at_end"] == [GOOD_VERSION], line


@pytest.mark.timeout(600)
def test_model_fixed_batch_reload(bootstrap: str, tmp_path: Path) -> None:
    bad = fixed_batch_model(tiny_info(version=FIXED_VERSION), batch=4).SerializeToString()
    report, seen = run_reload(ReloadRun(bootstrap, tmp_path), bad, "model_fixed_batch_reload")
    notes, line = report.notes, report.as_json()
    refused = notes["reloads_refused"] == 1 and notes["reloads_accepted"] == 0
    assert refused, f"the fixed-batch model was not refused at reload\n{line}"
    assert report.dead_lettered == 0, f"good alerts dead-lettered\n{line}"
    per_round = seen["per_round"]
    assert isinstance(per_round, dict)
    versions = {k: set(v) for k, v in per_round.items()}
    assert versions == {0: {GOOD_VERSION}, 1: {GOOD_VERSION}, 2: {GOOD_VERSION}}, line
