"""Two `rbc serve` instances in one consumer group share the input partitions and together
score every message at least once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.ops_support import wait_for
from tests.integration.stream_helpers import (
    committed,
    group_assignment,
    high_watermarks,
    input_offsets,
    read_all,
    replay_in_background,
    sources,
    stopped_stats,
)
from tests.integration.stream_setup import StreamTopics, start_serve
from tests.support.model_factory import write_tiny_model

PARTITIONS = 4


@pytest.mark.timeout(300)
def test_two_instances_share_partitions_and_score_everything(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path
) -> None:
    complete = [p.read_bytes() for p in sorted(vendored_alerts.glob("*.avro")) if "NO_CUTOUTS" not in p.name]
    values = complete * 2
    model = write_tiny_model(tmp_path / "tiny.onnx")
    topics = StreamTopics.create(bootstrap, "group", partitions=PARTITIONS)
    a = start_serve(bootstrap, topics, model, tmp_path / "a.log", batch_size=8)
    b = start_serve(bootstrap, topics, model, tmp_path / "b.log", batch_size=8, wait_ready=False)
    try:
        wait_for(lambda: len(group_assignment(bootstrap, topics.group)) == 2, 90, "two members")
        shares = group_assignment(bootstrap, topics.group)
        assert all(shares) and set.union(*shares) == set(range(PARTITIONS))
        assert not set.intersection(*shares)
        replay_in_background(bootstrap, topics.input, values, rate_per_s=0).join(60)
        wait_for(
            lambda: (
                committed(bootstrap, topics.group, topics.input) == high_watermarks(bootstrap, topics.input)
            ),
            120,
            "both to finish",
        )
    finally:
        codes = (a.stop(), b.stop())
    assert codes == (0, 0)
    seen = sources(read_all(bootstrap, topics.scored))
    assert set(seen) == input_offsets(bootstrap, topics.input)
    scored = [stopped_stats(s.log_path.read_text())["scored"] for s in (a, b)]
    assert all(n > 0 for n in scored), scored
    assert sum(scored) >= len(values)
