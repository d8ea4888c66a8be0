"""A second `rbc serve` joins the group under traffic, then leaves: two rebalances, nothing
lost, at most one batch scored twice per rebalance, both members exit cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.report import check_targets, reported
from tests.faults.service import Supervised, caught_up, serve_env, supervise
from tests.faults.tally import tally
from tests.faults.traffic import create_topics, good_alerts, send_in_background
from tests.integration.ops_support import wait_for
from tests.integration.stream_helpers import count, group_assignment

BATCH = 8
PARTITIONS = 4
RATE_PER_S = 10.0


@pytest.mark.faults_slow
@pytest.mark.timeout(600)
def test_rebalance_under_traffic(bootstrap: str, tiny_model: Path, tmp_path: Path) -> None:
    values = good_alerts() * 4
    topics = create_topics(bootstrap, "faults-rebalance", partitions=PARTITIONS)
    env = serve_env(bootstrap, topics, tiny_model, BATCH, {})
    first, second = Supervised("first", tmp_path, env), Supervised("second", tmp_path, env)
    with reported("rebalance_join_leave") as report:
        report.notes["batch_size"] = BATCH
        try:
            first.start()
            sending = send_in_background(bootstrap, topics.input, values, RATE_PER_S)
            wait_for(lambda: count(bootstrap, topics.scored) >= 2 * BATCH, 90, "some scored records")
            second.start(wait_ready=False)
            wait_for(lambda: len(group_assignment(bootstrap, topics.group)) == 2, 90, "two members")
            joined_at = count(bootstrap, topics.scored)
            wait_for(lambda: count(bootstrap, topics.scored) >= joined_at + 2 * BATCH, 90, "scoring by two")
            report.notes["second_exit"] = second.current.stop()
            sending.join(120)
            assert not sending.is_alive(), "sending the input did not finish"
            report.notes["stream_stopped"] = supervise([first], lambda: caught_up(bootstrap, topics), 240, 1)
        finally:
            second.stop()
            first.stop()
            report.exit_codes = first.exit_codes() + second.exit_codes()
            report.peak_rss_mb = max(first.peak_mb(), second.peak_mb())
        tally(bootstrap, topics).into(report)
    assert report.inputs == len(values)
    assert report.exit_codes == [0, 0], (first.log_tail(), second.log_tail())
    check_targets(report, max_duplicates=2 * BATCH)
