"""`kill -9` of `rbc serve` in the middle of a stream, then a restart, loses nothing: every
input message is scored at least once, and only work that was in flight (at most one batch
per partition) is scored twice."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.integration.ops_support import wait_for
from tests.integration.stream_helpers import (
    committed,
    count,
    high_watermarks,
    input_offsets,
    read_all,
    replay_in_background,
    sources,
)
from tests.integration.stream_setup import StreamTopics, start_serve
from tests.support.model_factory import write_tiny_model

BATCH = 8
ROUNDS = 4
RATE_PER_S = 60.0


@pytest.mark.timeout(300)
def test_kill_9_and_restart_lose_nothing(bootstrap: str, vendored_alerts: Path, tmp_path: Path) -> None:
    complete = [p.read_bytes() for p in sorted(vendored_alerts.glob("*.avro")) if "NO_CUTOUTS" not in p.name]
    values = complete * ROUNDS
    model = write_tiny_model(tmp_path / "tiny.onnx")
    topics = StreamTopics.create(bootstrap, "crash", partitions=2)
    first = start_serve(bootstrap, topics, model, tmp_path / "first.log", batch_size=BATCH)
    replaying = replay_in_background(bootstrap, topics.input, values, RATE_PER_S)
    try:
        wait_for(lambda: count(bootstrap, topics.scored) >= 3 * BATCH, 60, "some scored records")
        first.proc.send_signal(signal.SIGKILL)
        assert first.proc.wait(10) == -signal.SIGKILL
    finally:
        first.stop()
    at_kill = committed(bootstrap, topics.group, topics.input)
    assert sum(max(o, 0) for o in at_kill.values()) < len(values), "killed after the end"

    second = start_serve(bootstrap, topics, model, tmp_path / "second.log", batch_size=BATCH)
    try:
        replaying.join(60)
        assert not replaying.is_alive()
        wait_for(
            lambda: (
                committed(bootstrap, topics.group, topics.input) == high_watermarks(bootstrap, topics.input)
            ),
            120,
            "the restart to catch up",
        )
    finally:
        assert second.stop() == 0, second.log_path.read_text()

    seen = sources(read_all(bootstrap, topics.scored))
    assert set(seen) == input_offsets(bootstrap, topics.input)  # nothing lost
    for partition in high_watermarks(bootstrap, topics.input):
        twice = sum(n - 1 for (p, _), n in seen.items() if p == partition)
        assert twice <= BATCH, f"partition {partition}: {twice} duplicates"
    assert len(read_all(bootstrap, topics.dead)) == 0
