"""Step 2 of the run loop: decoding a whole batch of messages in one call, on a thread of its own.

`DecodeAhead.submit` starts the decode of a collected batch and returns an `InFlight`; the
loop meanwhile scores and produces the batch before it. The compiled core
(`rbc1000.alerts.native`) releases the GIL, so decoding and inference (ONNX Runtime releases
it too) keep two cores busy; on the Python path the two mostly take turns.

What the decode of a batch guarantees, message by message:

- a message without a value (tombstone, empty bytes) becomes one `empty_message` failure and
  one holding no record one `no_records` failure, so every message yields at least one record;
- a decoder that raises on the batch is asked again message by message, and only the message
  that trips it becomes a `decoder_error` failure;
- a failure that is no fault of the message (the schema registry did not answer,
  `TRANSIENT_REASONS`) raises `TransientError` for the whole batch: nothing of it may be
  dead-lettered or committed, it is read again after a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure, DecodeResult
from rbc1000.alerts.native import BatchDecoder, DecodedBatch, DecodedItem
from rbc1000.model.decisions import Prepared
from rbc1000.model.preprocessing import TRIPLET_SHAPE
from rbc1000.ops.metrics import UNKNOWN_SURVEY, Metrics
from rbc1000.reasons import TRANSIENT_REASONS, Reason
from rbc1000.stream.kafka_io import Message, Partition

log = logging.getLogger(__name__)


class TransientError(RuntimeError):
    """A message could not be decoded for a reason outside it (e.g. schema registry down)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a batch with the message it came from and its position inside it."""

    message: Message
    index: int
    result: DecodeResult


@dataclass(frozen=True, slots=True)
class DecodedMessages:
    """The records of a batch, in message order, and their triplets for `score_batch`."""

    records: list[Record]
    prepared: Prepared

    @property
    def results(self) -> list[DecodeResult]:
        return [r.result for r in self.records]

    def without(self, parts: set[Partition]) -> DecodedMessages:
        """The records whose message is not from `parts`."""
        keep = [i for i, r in enumerate(self.records) if r.message.source not in parts]
        p = self.prepared
        return DecodedMessages(
            [self.records[i] for i in keep], Prepared(p.triplets, [p.rows[i] for i in keep], p.version)
        )


@dataclass(slots=True)
class InFlight:
    """A consumed batch whose decode runs on the decode thread.

    `dropped` holds partitions revoked or lost since it was consumed: their messages are
    neither scored nor produced nor counted as processed (their next owner reads them again).
    """

    messages: list[Message]
    version: str
    decoded: Future[DecodedMessages]
    dropped: set[Partition] = field(default_factory=set)
    started: float = 0.0  # when its decode was submitted, on the loop's clock

    def kept_messages(self) -> list[Message]:
        return [m for m in self.messages if m.source not in self.dropped]


class DecodeAhead:
    """One decode thread: `submit` a batch, collect its `InFlight.decoded` later.

    Use as a context manager; leaving it waits for a decode under way (a native call cannot
    be interrupted) and cancels any that has not started.
    """

    def __init__(self, decoder: BatchDecoder, metrics: Metrics) -> None:
        self.decoder = decoder
        self.metrics = metrics
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rbc-decode")

    def submit(self, messages: Sequence[Message], version: str, started: float = 0.0) -> InFlight:
        """Start decoding `messages` into triplets of preprocessing `version`."""
        batch = list(messages)
        future = self._pool.submit(decode_messages, batch, self.decoder, version, self.metrics)
        return InFlight(batch, version, future, started=started)

    def __enter__(self) -> DecodeAhead:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def decode_messages(
    messages: Sequence[Message], decoder: BatchDecoder, version: str, metrics: Metrics
) -> DecodedMessages:
    """Every record of the batch, in order, with its triplet (see the module docstring)."""
    values = [m.value for m in messages if m.value]
    started = time.perf_counter()
    batch = _decode_guarded(decoder, values, version)
    per_message = (time.perf_counter() - started) / max(len(messages), 1)
    for _ in messages:  # the metric counts messages: each gets its share of the batch's time
        metrics.decode_latency.observe(per_message)
    by_value: list[list[DecodedItem]] = [[] for _ in values]
    for item in batch.items:
        by_value[item.message].append(item)
    records: list[Record] = []
    rows: list[int | DecodeError | None] = []
    position = 0
    for message in messages:
        items = [_failed(Reason.EMPTY_MESSAGE, "message has no value (tombstone or empty bytes)")]
        if message.value:
            items = by_value[position] or [_failed(Reason.NO_RECORDS, "container is empty")]
            position += 1
        for i, item in enumerate(items):
            result = item.result
            _check_transient(result)
            index = result.index if isinstance(result, DecodeFailure) else i
            records.append(Record(message, index, result))
            rows.append(item.row if item.row is not None else item.triplet_error)
            survey = result.survey if isinstance(result, Alert) else UNKNOWN_SURVEY
            metrics.consumed.labels(survey=survey).inc()
    return DecodedMessages(records, Prepared(batch.triplets, rows, version))


def _failed(reason: Reason, detail: str) -> DecodedItem:
    return DecodedItem(-1, DecodeFailure(-1, DecodeError(reason, detail)), None)


def _check_transient(result: DecodeResult) -> None:
    if isinstance(result, DecodeFailure) and result.error.reason in TRANSIENT_REASONS:
        raise TransientError(
            f"{result.error.reason}: {result.error.detail}; nothing committed, the batch is read "
            "again on restart"
        )


def _decode_guarded(decoder: BatchDecoder, values: list[bytes], version: str) -> DecodedBatch:
    """`decoder.decode_batch`; if it raises, message by message, so one message cannot sink the rest."""
    try:
        return decoder.decode_batch(values, version)
    except Exception:  # the decoder promises not to raise; survive if it does
        log.exception("decoder_raised messages=%d retry=one_by_one", len(values))
    items: list[DecodedItem] = []
    rows: list[np.ndarray] = []
    for message, value in enumerate(values):
        items.extend(_one(decoder, message, value, version, rows))
    triplets = np.stack(rows) if rows else np.empty((0, *TRIPLET_SHAPE), dtype=np.float32)
    return DecodedBatch(items, triplets, version)


def _one(
    decoder: BatchDecoder, message: int, value: bytes, version: str, rows: list[np.ndarray]
) -> list[DecodedItem]:
    """The items of one message decoded alone, their triplets appended to `rows`."""
    try:
        batch = decoder.decode_batch([value], version)
    except Exception as exc:
        log.exception("decoder_raised message=%d", message)
        return [DecodedItem(message, DecodeFailure(-1, DecodeError(Reason.DECODER_ERROR, repr(exc))), None)]
    offset = len(rows)
    rows.extend(batch.triplets)
    return [
        DecodedItem(message, i.result, None if i.row is None else i.row + offset, i.triplet_error)
        for i in batch.items
    ]
