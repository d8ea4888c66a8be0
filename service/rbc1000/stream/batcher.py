"""Collecting the messages of one batch: a size cap, a maximum wait counted from the first
message, and an idle return so the loop's housekeeping runs while the input is quiet.

Every message is registered with the offset tracker as soon as it is read, and held in a
pending list until the batch closes; a revocation while a batch is being collected drops the
pending messages of the revoked partitions (their next owner reads them again from the
committed offset).
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass, field
from typing import Protocol

from rbc1000.stream.kafka_io import Message, MessageSource, Partition
from rbc1000.stream.offsets import OffsetTracker

IDLE_POLL_S = 0.5  # longest consume() wait, so a stop request is seen within this time


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

    def collect(self, first_wait_s: float = IDLE_POLL_S) -> list[Message]:
        """Messages for one batch; empty when nothing arrived within `first_wait_s` (at most
        `IDLE_POLL_S`), or once a stop is requested before anything arrived.

        The run loop passes 0 while a batch of its own waits to be finished: then only what
        has already arrived starts a new batch, and the waiting batch is not held up.
        """
        first_at: float | None = None
        while len(self._pending) < self.size and not self.stop.requested:
            # A batch consume waits for its whole timeout unless it fills up, so the first
            # call asks for one message only: it returns as soon as anything arrives, and
            # the batch's maximum wait is counted from then.
            if first_at is None:
                want, timeout = 1, min(first_wait_s, IDLE_POLL_S)
            else:
                want = self.size - len(self._pending)
                timeout = min(first_at + self.max_wait_s - self.clock(), IDLE_POLL_S)
                if timeout <= 0:
                    break
            messages = self.source.consume(want, timeout)
            self.while_waiting()
            for m in messages:
                self.tracker.consumed(m.source, m.offset)
            self._pending.extend(messages)
            if self._pending and first_at is None:
                first_at = self.clock()
            if not self._pending:
                break
        batch, self._pending = self._pending, []
        return batch

    def drop(self, parts: Set[Partition]) -> None:
        """Forget the pending messages of partitions this consumer no longer owns."""
        self._pending = [m for m in self._pending if m.source not in parts]
