"""Many writer schemas through Kafka (issue 19, item 2: the schema cache kept about 87 KB per
distinct writer schema forever, 261 MB for 3,000 of them).

N copies of a real alert, each under a writer schema of its own
(`tests.support.hostile.distinct_schema_alerts`), with a complete vendored alert after every
tenth, go through one `rbc serve` whose schema cache is bounded at CACHE_SIZE
(`decode_limits.schema_cache_size`), on each decode path (`decode_path`: the compiled core,
the default, and the Python one). Every message must be scored (each decodes), nothing
lost, and the service's resident memory once the first tenth is committed (the cache long
full by then) and at the end must differ by less than GROWTH_LIMIT_MB, a quarter of what the
schemas past that point would cost an unbounded cache.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from threading import Thread

import pytest

from tests.faults.report import CaseReport, check_targets, reported
from tests.faults.rss import status_mb
from tests.faults.service import Supervised, caught_up, committed, serve_env
from tests.faults.tally import tally
from tests.faults.traffic import create_topics, good_alerts, send_in_background
from tests.integration.stream_setup import StreamTopics
from tests.support.hostile import distinct_schema_alerts

pytestmark = [pytest.mark.faults_slow]

N_SCHEMAS = 3000
GOOD_EVERY = 10
CACHE_SIZE = 256
BATCH = 16
# What one cached writer schema cost before the cache was bounded (issue 19).
KB_PER_SCHEMA = 87
GROWTH_LIMIT_MB = (N_SCHEMAS * 9 // 10) * KB_PER_SCHEMA / 1024 / 4
CATCH_UP_TIMEOUT_S = 480


def mixed_input(n: int) -> list[bytes]:
    """`n` distinct-schema alerts with a good alert after every GOOD_EVERY-th."""
    good = itertools.cycle(good_alerts())
    out: list[bytes] = []
    for i, value in enumerate(distinct_schema_alerts(n)):
        out.append(value)
        if i % GOOD_EVERY == GOOD_EVERY - 1:
            out.append(next(good))
    return out


def follow_rss(
    member: Supervised, sending: Thread, bootstrap: str, topics: StreamTopics, report: CaseReport
) -> None:
    """Wait until the input is sent and the group has committed all of it, noting the service's
    RSS (MB) when a tenth, half and all of it are committed; fails if the service exits or
    time runs out."""
    total = int(report.notes["messages"])
    marks = {"rss_mb_at_10pct": total // 10, "rss_mb_at_50pct": total // 2}
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    pid = member.current.proc.pid
    while sending.is_alive() or not caught_up(bootstrap, topics):
        assert member.running(), f"the service exited {member.exit_codes()}\n{member.log_tail()}"
        assert time.monotonic() < deadline, f"not caught up within {CATCH_UP_TIMEOUT_S} s"
        done = sum(committed(bootstrap, topics).values())
        for name, at in marks.items():
            if done >= at and name not in report.notes:
                report.notes[name] = round(status_mb(pid, "VmRSS") or 0.0, 1)
                report.notes[name.replace("rss_mb", "committed")] = done
        time.sleep(0.5)
    assert member.running(), f"the service exited {member.exit_codes()}\n{member.log_tail()}"
    report.notes["rss_mb_at_end"] = round(status_mb(pid, "VmRSS") or 0.0, 1)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("decode_path", ["native", "python"])
def test_schema_cache_many_writers(
    decode_path: str, bootstrap: str, tiny_model: Path, tmp_path: Path
) -> None:
    values = mixed_input(N_SCHEMAS)
    topics = create_topics(bootstrap, "faults-schemas", partitions=1)
    extra = {"RBC_DECODE_LIMITS__SCHEMA_CACHE_SIZE": str(CACHE_SIZE), "RBC_DECODE_PATH": decode_path}
    member = Supervised("serve", tmp_path, serve_env(bootstrap, topics, tiny_model, BATCH, extra))
    case = "schema_cache_many_writers" + ("" if decode_path == "native" else f"_{decode_path}")
    with reported(case) as report:
        report.notes |= {
            "decode_path": decode_path,
            "distinct_schemas": N_SCHEMAS,
            "schema_cache_size": CACHE_SIZE,
            "messages": len(values),
        }
        try:
            member.start()
            sending = send_in_background(bootstrap, topics.input, values, rate_per_s=0.0)
            follow_rss(member, sending, bootstrap, topics, report)
        finally:
            member.stop()
            report.exit_codes = member.exit_codes()
            report.peak_rss_mb = member.peak_mb()
        tally(bootstrap, topics).into(report)
        growth = report.notes["rss_mb_at_end"] - report.notes["rss_mb_at_10pct"]
        report.notes["rss_growth_mb_after_10pct"] = round(growth, 1)
        report.notes["growth_limit_mb"] = round(GROWTH_LIMIT_MB, 1)
    check_targets(report, max_duplicates=0)
    assert report.inputs == len(values)
    assert report.scored == len(values) and report.dead_lettered == 0, report.as_json()
    assert report.exit_codes == [0], member.log_tail()
    assert growth < GROWTH_LIMIT_MB, f"RSS grew with the number of schemas\n{report.as_json()}"
