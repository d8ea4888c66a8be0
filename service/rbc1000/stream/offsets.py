"""Offset bookkeeping for at-least-once processing.

A consumed message is *finished* when it has been processed (every output it causes has been
handed to the producer) and the broker has acknowledged each of those outputs. The offset to
commit for a partition is the contiguous watermark: one past the last message of the longest
finished prefix of what was consumed from it. A message that is not finished holds back
every later offset of its partition, whatever their state, so a commit never skips
unfinished work and a restart re-reads from the oldest unfinished message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from rbc1000.stream.kafka_io import Partition


@dataclass(slots=True)
class _Entry:
    offset: int
    outstanding: int = 0
    processed: bool = False

    @property
    def finished(self) -> bool:
        return self.processed and self.outstanding == 0


@dataclass(slots=True)
class _PartitionState:
    queue: deque[_Entry] = field(default_factory=deque)
    by_offset: dict[int, _Entry] = field(default_factory=dict)
    watermark: int | None = None  # next offset to read after the finished prefix
    committed: int | None = None

    def advance(self) -> None:
        while self.queue and self.queue[0].finished:
            entry = self.queue.popleft()
            del self.by_offset[entry.offset]
            self.watermark = entry.offset + 1


class OffsetTracker:
    """Which consumed messages are finished, per partition, and what may be committed.

    Usage per message: `consumed` when it is read, `expect` once per output produced for it,
    `processed` when all its outputs have been handed over, `acknowledged` from each output's
    delivery callback. `committable()` gives the offsets to commit; `committed()` records
    a successful commit; `forget()` drops partitions this consumer no longer owns.
    """

    def __init__(self) -> None:
        self._parts: dict[Partition, _PartitionState] = {}

    def consumed(self, part: Partition, offset: int) -> None:
        """Register a message just read; offsets must increase within a partition."""
        state = self._parts.setdefault(part, _PartitionState())
        last = state.queue[-1].offset if state.queue else state.watermark
        if last is not None and offset < last + (1 if state.queue else 0):
            raise ValueError(
                f"{part} offset {offset} consumed after {last}: forget() the "
                "partition before it is read again"
            )
        entry = _Entry(offset)
        state.queue.append(entry)
        state.by_offset[offset] = entry

    def expect(self, part: Partition, offset: int, outputs: int = 1) -> None:
        """Count outputs produced on behalf of a message."""
        self._entry(part, offset).outstanding += outputs

    def processed(self, part: Partition, offset: int) -> None:
        """Every output of this message has been produced (maybe none): wait for the acks only."""
        entry = self._entry(part, offset)
        entry.processed = True
        if entry.finished:
            self._parts[part].advance()

    def acknowledged(self, part: Partition, offset: int) -> None:
        """One output of this message was acknowledged by the broker.

        Ignored for a partition forgotten since (its outputs were produced before a revocation;
        the new owner re-reads from the committed offset).
        """
        state = self._parts.get(part)
        entry = state.by_offset.get(offset) if state is not None else None
        if state is None or entry is None:
            return
        if entry.outstanding <= 0:
            raise ValueError(f"{part} offset {offset}: more acknowledgements than outputs")
        entry.outstanding -= 1
        if entry.finished:
            state.advance()

    def committable(self, parts: Iterable[Partition] | None = None) -> dict[Partition, int]:
        """Offsets (next to read) whose watermark moved past the last commit, for `parts` or all."""
        chosen = self._parts if parts is None else {p: self._parts[p] for p in parts if p in self._parts}
        return {
            p: s.watermark
            for p, s in chosen.items()
            if s.watermark is not None and s.watermark != s.committed
        }

    def committed(self, offsets: dict[Partition, int]) -> None:
        """Record offsets the broker accepted."""
        for part, offset in offsets.items():
            if part in self._parts:
                self._parts[part].committed = offset

    def unfinished(self, part: Partition | None = None) -> int:
        """How many consumed messages are not finished (in one partition or in all)."""
        states = self._parts.values() if part is None else [self._parts.get(part)]
        return sum(len(s.queue) for s in states if s is not None)

    def forget(self, parts: Iterable[Partition]) -> None:
        """Drop the state of partitions this consumer no longer owns."""
        for part in parts:
            self._parts.pop(part, None)

    def _entry(self, part: Partition, offset: int) -> _Entry:
        try:
            return self._parts[part].by_offset[offset]
        except KeyError:
            raise KeyError(f"{part} offset {offset} was not registered with consumed()") from None
