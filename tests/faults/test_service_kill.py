"""kill -9 of `rbc serve` in the middle of a stream, then a restart: nothing lost, at most
one batch scored twice, and with `--exactly-once` none seen by a read_committed consumer."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults.report import check_targets, reported
from tests.faults.service import Supervised, caught_up, exactly_once_env, serve_env, supervise
from tests.faults.tally import tally
from tests.faults.traffic import create_topics, good_alerts, send_in_background
from tests.integration.ops_support import unique, wait_for
from tests.integration.stream_helpers import count

BATCH = 8
RATE_PER_S = 40.0


@pytest.mark.timeout(420)
@pytest.mark.parametrize(
    "exactly_once",
    [False, pytest.param(True, marks=pytest.mark.faults_slow)],
    ids=["at_least_once", "exactly_once"],
)
def test_service_kill_9_mid_stream(
    exactly_once: bool, bootstrap: str, tiny_model: Path, tmp_path: Path
) -> None:
    values = good_alerts() * 3
    topics = create_topics(bootstrap, "faults-kill9", partitions=2)
    eos = exactly_once_env(unique("faults")) if exactly_once else {}
    member = Supervised("serve", tmp_path, serve_env(bootstrap, topics, tiny_model, BATCH, eos))
    with reported("service_kill9" + ("_exactly_once" if exactly_once else "")) as report:
        try:
            member.start()
            sending = send_in_background(bootstrap, topics.input, values, RATE_PER_S)
            wait_for(lambda: count(bootstrap, topics.scored) >= 3 * BATCH, 90, "some scored records")
            member.current.proc.send_signal(signal.SIGKILL)
            member.current.proc.wait(10)
            report.notes["scored_at_kill"] = count(bootstrap, topics.scored)
            sending.join(120)
            assert not sending.is_alive(), "sending the input did not finish"
            member.start()
            report.notes["stream_stopped"] = supervise([member], lambda: caught_up(bootstrap, topics), 180, 3)
        finally:
            member.stop()
            report.exit_codes = member.exit_codes()
            report.peak_rss_mb = member.peak_mb()
        tally(bootstrap, topics).into(report)
        report.notes["batch_size"] = BATCH
    assert report.inputs == len(values)
    assert report.exit_codes == [-signal.SIGKILL, 0], member.log_tail()
    check_targets(report, max_duplicates=0 if exactly_once else BATCH)
