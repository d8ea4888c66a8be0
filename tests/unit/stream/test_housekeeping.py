"""Between batches: heartbeat and connection every turn, model reload, lag and progress log
each at its own pace."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from rbc1000.model.scoring import Scorer
from rbc1000.ops.health import HealthState
from rbc1000.ops.metrics import Metrics
from rbc1000.stream.housekeeping import LAG_EVERY_S, STATS_EVERY_S, FixedModel, Housekeeping, ModelPoller
from rbc1000.stream.kafka_io import Partition
from tests.support.kafka_fakes import FakeSource
from tests.support.model_factory import tiny_info, write_tiny_model

P0 = Partition("in", 0)
NO_RELOAD = FixedModel()


@dataclass
class LaggingSource(FakeSource):
    """A source whose lag is set by the test and whose lag() calls are counted."""

    lags: dict[Partition, int] = field(default_factory=dict)
    lag_calls: int = 0

    def lag(self) -> dict[Partition, int]:
        self.lag_calls += 1
        return dict(self.lags)


@dataclass
class QueuedModels:
    """A model poller handing out the queued scorers, one per poll, then None."""

    queue: deque[Scorer]
    polls: int = 0

    def poll(self) -> Scorer | None:
        self.polls += 1
        return self.queue.popleft() if self.queue else None


def housekeeping(
    source: LaggingSource, watcher: ModelPoller = NO_RELOAD, health: HealthState | None = None
) -> tuple[Housekeeping, Metrics]:
    metrics = Metrics(CollectorRegistry())
    chores = Housekeeping(source, watcher, metrics, health or HealthState(), model_poll_s=5.0, now=100.0)
    return chores, metrics


def test_every_turn_beats_and_reports_the_connection(scorer: Scorer) -> None:
    now = [0.0]
    health = HealthState(stall_after_s=1.0, clock=lambda: now[0])
    source = LaggingSource(deque(), connected=False)
    chores, _ = housekeeping(source, health=health)
    now[0] = 10.0
    chores.tick(100.0, scorer, str)
    assert health.alive()
    assert health.readiness().missing()[0] == "connected"
    source.connected = True
    chores.tick(100.1, scorer, str)
    assert health.readiness().connected


def test_lag_is_exported_at_once_then_every_lag_period(scorer: Scorer) -> None:
    source = LaggingSource(deque(), lags={P0: 7})
    chores, metrics = housekeeping(source)
    chores.tick(100.0, scorer, str)
    chores.tick(100.0 + LAG_EVERY_S / 2, scorer, str)
    assert source.lag_calls == 1
    assert (
        metrics.registry.get_sample_value("rbc_consumer_lag_messages", {"topic": "in", "partition": "0"}) == 7
    )
    chores.tick(100.0 + LAG_EVERY_S, scorer, str)
    assert source.lag_calls == 2


def test_new_model_is_taken_up_at_the_poll_period(scorer: Scorer, tmp_path: Path) -> None:
    new = Scorer.load(write_tiny_model(tmp_path / "new.onnx", tiny_info(version="2")), provider="cpu")
    watcher = QueuedModels(deque([new]))
    chores, _ = housekeeping(LaggingSource(deque()), watcher)
    assert chores.tick(104.0, scorer, str) is scorer
    assert watcher.polls == 0
    assert chores.tick(105.0, scorer, str) is new
    assert chores.tick(110.0, new, str) is new  # polled again, nothing new
    assert watcher.polls == 2


def test_progress_is_logged_every_stats_period(scorer: Scorer, caplog: pytest.LogCaptureFixture) -> None:
    chores, _ = housekeeping(LaggingSource(deque()))
    caplog.set_level(logging.INFO, logger="rbc1000.stream.housekeeping")
    for now in (100.0, 100.0 + STATS_EVERY_S - 1, 100.0 + STATS_EVERY_S):
        chores.tick(now, scorer, lambda: "messages=3")
    assert [r.getMessage() for r in caplog.records] == ["stream_progress messages=3"]
