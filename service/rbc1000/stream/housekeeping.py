"""What the run loop does between batches, each at its own pace.

Every turn: a heartbeat and the broker connection for `/healthz` and `/readyz`. Every
`model_poll_s`: a look at the model file, taking up a new validated model if it changed.
Every `LAG_EVERY_S`: the consumer lag per assigned partition into the metrics. Every
`STATS_EVERY_S`: a `stream_progress` log line with the counts so far.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from rbc1000.model.survey_models import Serving
from rbc1000.ops.health import HealthState
from rbc1000.ops.metrics import Metrics
from rbc1000.stream.kafka_io import MessageSource

log = logging.getLogger(__name__)

LAG_EVERY_S = 2.0
STATS_EVERY_S = 30.0


class ModelPoller(Protocol):
    """Hands over a new validated model when the file changed (`ModelWatcher`), else None."""

    def poll(self) -> Serving | None: ...


class FixedModel:
    """The null poller: the model in hand serves until the process stops."""

    def poll(self) -> Serving | None:
        return None


class Housekeeping:
    """Heartbeat, model hot reload, lag export and progress log; `tick` runs what is due."""

    def __init__(
        self,
        source: MessageSource,
        watcher: ModelPoller,
        metrics: Metrics,
        health: HealthState,
        *,
        model_poll_s: float,
        now: float,
    ) -> None:
        self.source = source
        self.watcher = watcher
        self.metrics = metrics
        self.health = health
        self.model_poll_s = model_poll_s
        self._next_model_poll = now + model_poll_s
        self._next_lag = now
        self._next_stats = now + STATS_EVERY_S

    def tick(self, now: float, scorer: Serving, progress: Callable[[], str]) -> Serving:
        """Run what is due at `now`; returns the model for the next batch (`scorer`, or the new
        one after a reload). `progress` gives the counts for the periodic log line."""
        self.health.beat()
        self.health.set_connected(self.source.connected)
        if now >= self._next_model_poll:
            self._next_model_poll = now + self.model_poll_s
            scorer = self._reload(scorer)
        if now >= self._next_lag:
            self._next_lag = now + LAG_EVERY_S
            for part, lag in self.source.lag().items():
                self.metrics.set_lag(part.topic, part.partition, lag)
        if now >= self._next_stats:
            self._next_stats = now + STATS_EVERY_S
            log.info("stream_progress %s", progress())
        return scorer

    def _reload(self, scorer: Serving) -> Serving:
        new = self.watcher.poll()
        if new is None:
            return scorer
        log.info(
            "model_swapped old_version=%s new_version=%s provider=%s",
            scorer.info.version,
            new.info.version,
            new.provider,
        )
        return new
