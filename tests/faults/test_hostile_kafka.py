"""Each hostile input of issue 19 (tests/support/hostile.py) sent through Kafka between good
alerts: the hostile message is dead-lettered (or scored, if legal), the good alerts behind
it are scored, the service never exits, and its peak RSS stays under 512 MB."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.faults.report import check_targets, reported
from tests.faults.service import Supervised, caught_up, serve_env, supervise
from tests.faults.tally import tally
from tests.faults.traffic import create_topics, good_alerts, send
from tests.support.hostile import BASE_ALERT, CASES, HostileCase

BATCH = 4
GOOD_EACH_SIDE = 8
MAX_RSS_MB = 512.0
# How often a supervisor restarts a crashing service before the stream counts as stopped.
MAX_STARTS = 3
# The fast subset, in scripts/test.sh: an untyped decoder exception and an oversized legal alert.
FAST = {"wrong_candidate", "big_legal_alert"}


def hostile_params() -> list[object]:
    return [
        pytest.param(case, id=case.name, marks=() if case.name in FAST else pytest.mark.faults_slow)
        for case in CASES
    ]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("hostile", hostile_params())
def test_hostile_message_through_kafka(
    hostile: HostileCase, bootstrap: str, tiny_model: Path, tmp_path: Path
) -> None:
    good = [v for v in good_alerts() if v != BASE_ALERT.read_bytes()]
    before, after = good[:GOOD_EACH_SIDE], good[GOOD_EACH_SIDE : 2 * GOOD_EACH_SIDE]
    topics = create_topics(bootstrap, f"faults-{hostile.name.replace('_', '-')}", partitions=1)
    member = Supervised("serve", tmp_path, serve_env(bootstrap, topics, tiny_model, BATCH, {}))
    with reported(f"kafka_hostile:{hostile.name}") as report:
        send(bootstrap, topics.input, [*before, hostile.build(), *after], partition=0)
        try:
            member.start()
            report.notes["stream_stopped"] = supervise(
                [member], lambda: caught_up(bootstrap, topics), 240, MAX_STARTS
            )
        finally:
            member.stop()
            report.exit_codes = member.exit_codes()
            report.peak_rss_mb = member.peak_mb()
            report.notes["killed_at_rss_cap"] = member.capped()
        result = tally(bootstrap, topics)
        result.into(report)
        at = (0, len(before))
        report.notes["hostile_scored"] = result.scored[at]
        report.notes["hostile_reasons"] = dict(Counter(result.dead_reasons.get(at, [])))
        report.notes["expected_reason"] = hostile.reason
        unscored_behind = [o for p, o in result.inputs if o > at[1] and not result.scored[(p, o)]]
        if unscored_behind and not report.notes["stream_stopped"]:
            report.notes["stream_stopped"] = f"good alerts behind it not scored: offsets {unscored_behind}"
        if report.exit_codes != [0]:
            report.notes["crashes"] = member.crash_lines()
    check_targets(report, max_duplicates=BATCH, max_rss_mb=MAX_RSS_MB)
    assert report.exit_codes == [0], f"the service exited: {report.exit_codes}\n{member.log_tail()}"
