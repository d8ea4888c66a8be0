"""The input schema registry answers HTTP 503 for a while, then recovers: no good alert is
dead-lettered as `unknown_schema` (a 503 is the registry's fault, not the message's), nothing
is lost, and every alert is scored once the registry answers again. A service that stops
during the outage is restarted, as a supervisor would.

Needs RBC_TEST_REGISTRY_URL (a Confluent-compatible registry, deploy/registry/registry.sh;
scripts/test-faults.sh starts one); skipped without it on a workstation, failed under CI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.registry_proxy import FaultyRegistry
from tests.faults.report import check_targets, reported
from tests.faults.service import Supervised, caught_up, serve_env, supervise
from tests.faults.tally import tally
from tests.faults.traffic import VENDORED, create_topics, send
from tests.integration.registry_support import register_lsst
from tests.support.alert_factory import LSST_9_0_ID, confluent, read_records

LSST_FILES = "lsst-real__fink-broker_lsstcam_20250905_v9.0__*.avro"
BATCH = 4
MESSAGES = 12
OUTAGE_S = 20.0
# Restarts a supervisor makes while the registry still fails (each may stop again).
OUTAGE_STARTS = 3


def framed(schema_id: int) -> list[bytes]:
    """Real LSST alerts in the Confluent wire format under `schema_id`."""
    records: list[dict[str, Any]] = []
    for path in sorted(VENDORED.glob(LSST_FILES)):
        records += read_records(path)[1]
    messages = [confluent(LSST_9_0_ID, record) for record in records]
    return [(m[:1] + schema_id.to_bytes(4, "big") + m[5:]) for m in messages * MESSAGES][:MESSAGES]


@pytest.mark.faults_slow
@pytest.mark.timeout(600)
def test_registry_503_then_recovery(bootstrap: str, registry: str, tiny_model: Path, tmp_path: Path) -> None:
    values = framed(register_lsst(registry, "faults-in"))
    topics = create_topics(bootstrap, "faults-registry", partitions=1)
    (tmp_path / "schemas").mkdir()
    proxy = FaultyRegistry(registry)
    extra = {"RBC_SCHEMA_DIR": str(tmp_path / "schemas"), "RBC_REGISTRY_URL": proxy.url}
    member = Supervised("serve", tmp_path, serve_env(bootstrap, topics, tiny_model, BATCH, extra))
    with reported("registry_503") as report:
        report.notes.update(outage_s=OUTAGE_S, batch_size=BATCH)
        send(bootstrap, topics.input, values, partition=0)
        try:
            member.start(wait_ready=False)
            end = time.monotonic() + OUTAGE_S
            while time.monotonic() < end:
                member.restart_if_exited(OUTAGE_STARTS)
                time.sleep(0.5)
            report.notes["starts_during_outage"] = len(member.runs)
            report.notes["requests_answered_503"] = proxy.answered_503
            proxy.failing = False
            report.notes["stream_stopped"] = supervise(
                [member], lambda: caught_up(bootstrap, topics), 180, OUTAGE_STARTS + 3
            )
        finally:
            member.stop()
            proxy.close()
            report.exit_codes = member.exit_codes()
            report.peak_rss_mb = member.peak_mb()
        result = tally(bootstrap, topics)
        result.into(report)
        report.notes["dead_letter_reasons"] = sorted({r for rs in result.dead_reasons.values() for r in rs})
        if any(code not in (0, None) for code in report.exit_codes):
            report.notes["crashes"] = member.crash_lines()
    assert report.inputs == len(values)
    assert report.dead_lettered == 0, report.notes["dead_letter_reasons"]
    check_targets(report, max_duplicates=BATCH)
