"""Collecting the messages of one batch: a size cap, a maximum wait counted from the first
message, and an idle return so the loop's housekeeping runs while the input is quiet.

Every message is registered with the offset tracker as soon as it is read, and held in a
pending list until the batch closes; a revocation while a batch is being collected drops the
pending messages of the revoked partitions (their next owner reads them again from the
committed offset).

While the loop waits for a batch's decode (`wait`), the batcher keeps the consumer in its
group: past `QUICK_WAIT_S` it pauses the assigned partitions and keeps polling, so slow but
legal alerts never exceed `max.poll.interval.ms` (which would cost the membership, the commit
and a re-read of the batch, over and over). A batch that took longer than its time budget
(`fit`) halves the size of the next ones until one fits in half the budget again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Set
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from rbc1000.stream.kafka_io import Message, MessageSource, Partition
from rbc1000.stream.offsets import OffsetTracker

IDLE_POLL_S = 0.5  # longest consume() wait, so a stop request is seen within this time
QUICK_WAIT_S = 1.0  # a decode done within this needs no keep-alive polling
KEEP_ALIVE_S = 0.5  # while paused, the consumer is polled at least this often

log = logging.getLogger(__name__)
T = TypeVar("T")


class StopRequest(Protocol):
    """What the batcher reads of the loop's stop flag."""

    @property
    def requested(self) -> bool: ...


@dataclass(slots=True)
class Batcher:
    """Collects batches from `source`; `while_waiting` runs after every consume call (the loop
    serves the producer's delivery callbacks there, so acknowledgements keep flowing)."""

    source: MessageSource
    tracker: OffsetTracker
    size: int
    max_wait_s: float
    stop: StopRequest
    clock: Callable[[], float]
    while_waiting: Callable[[], None] = lambda: None
    _pending: list[Message] = field(default_factory=list)
    limit: int = 0  # the batch size in force: `size`, less after a batch over its budget

    def __post_init__(self) -> None:
        self.limit = self.limit or self.size

    def collect(self, first_wait_s: float = IDLE_POLL_S) -> list[Message]:
        """Messages for one batch; empty when nothing arrived within `first_wait_s` (at most
        `IDLE_POLL_S`), or once a stop is requested before anything arrived.

        The run loop passes 0 while a batch of its own waits to be finished: then only what
        has already arrived starts a new batch, and the waiting batch is not held up.
        """
        first_at: float | None = None
        while len(self._pending) < self.limit and not self.stop.requested:
            # A batch consume waits for its whole timeout unless it fills up, so the first
            # call asks for one message only: it returns as soon as anything arrives, and
            # the batch's maximum wait is counted from then.
            if first_at is None:
                want, timeout = 1, min(first_wait_s, IDLE_POLL_S)
            else:
                want = self.limit - len(self._pending)
                timeout = min(first_at + self.max_wait_s - self.clock(), IDLE_POLL_S)
                if timeout <= 0:
                    break
            self._take(self.source.consume(want, timeout))
            if self._pending and first_at is None:
                first_at = self.clock()
            if not self._pending:
                break
        batch, self._pending = self._pending, []
        return batch

    def _take(self, messages: list[Message]) -> None:
        self.while_waiting()
        for m in messages:
            self.tracker.consumed(m.source, m.offset)
        self._pending.extend(messages)

    def wait(self, work: Future[T]) -> T:
        """The result of `work` (a decode under way); past `QUICK_WAIT_S` with every assigned
        partition paused and the consumer polled every `KEEP_ALIVE_S`. What a poll still
        returns (from partitions assigned meanwhile) waits in the next batch."""
        try:
            return work.result(QUICK_WAIT_S)
        except TimeoutError:
            pass
        log.info("decode_slow after_s=%s partitions=paused consumer=polling", QUICK_WAIT_S)
        self.source.pause()
        try:
            while True:
                self._take(self.source.consume(max(self.limit - len(self._pending), 1), 0.0))
                try:
                    return work.result(KEEP_ALIVE_S)
                except TimeoutError:
                    continue
        finally:
            self.source.resume()

    def fit(self, count: int, elapsed_s: float, budget_s: float) -> None:
        """Size the next batches after one of `count` messages took `elapsed_s`: halved when
        over `budget_s`, doubled back towards `size` when under half of it."""
        if elapsed_s > budget_s and count > 1:
            self.limit = max(1, min(self.limit, count) // 2)
            log.warning(
                "batch_over_budget messages=%d elapsed_s=%.1f budget_s=%s next_batch_size=%d",
                count,
                elapsed_s,
                budget_s,
                self.limit,
            )
        elif elapsed_s < budget_s / 2 and self.limit < self.size:
            self.limit = min(self.size, self.limit * 2)

    def drop(self, parts: Set[Partition]) -> None:
        """Forget the pending messages of partitions this consumer no longer owns."""
        self._pending = [m for m in self._pending if m.source not in parts]
