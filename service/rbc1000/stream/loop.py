"""The run loop of `rbc serve`: consume, decode, score, produce, flush, commit, at least once.

Outputs, per input message:

- **scored topic**: one record per alert, the Confluent-framed scored Avro record of
  `rbc1000.stream.records` (schema id 30100), key = object id;
- **labelling topic**: the same record again for alerts in the model's low-confidence band,
  as long as the labelling rate cap (`LabellingLimiter`) has tokens;
- **dead-letter topic**: one message per record that could not be decoded or scored (and one
  for a message that is empty or holds no record). Its value is the ORIGINAL message bytes,
  unchanged, and its key the original key, so a dead-letter topic can be replayed into the
  input once the cause is fixed; the reason travels in headers (Kafka Connect's convention):
  `rbc.error.reason` (short kind, e.g. `missing_cutouts`, `bad_framing`), `rbc.error.detail`,
  `rbc.source.topic`, `rbc.source.partition`, `rbc.source.offset`,
  `rbc.source.timestamp_ms` and `rbc.record.index` (the record's position inside the
  message; a container can hold several alerts).

Scored and labelling records carry the same `rbc.source.*` headers, so every output can be
traced back to the input offset it came from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure, DecodeResult
from rbc1000.alerts.decoding import Decoder
from rbc1000.model.decisions import DeadLetter, LabellingLimiter, Outcome, ScoredAlert, score_batch
from rbc1000.model.scoring import ModelWatcher, Scorer
from rbc1000.ops.health import HealthState
from rbc1000.ops.metrics import UNKNOWN_SURVEY, Metrics
from rbc1000.ops.settings import ServeSettings
from rbc1000.stream.kafka_io import Headers, Message, MessageSink, MessageSource, OutputRecord, Partition
from rbc1000.stream.offsets import OffsetTracker
from rbc1000.stream.records import ScoredRecord, encode_kafka

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.5  # longest consume() wait, so a stop request is seen within this time
LAG_EVERY_S = 2.0
STATS_EVERY_S = 30.0
MAX_DETAIL_BYTES = 1000
# Failures of the infrastructure, not of the packet: dead-lettering would lose good alerts.
TRANSIENT_REASONS = frozenset({"registry_unavailable"})


class TransientError(RuntimeError):
    """A message could not be decoded for a reason outside it (e.g. schema registry down)."""


@dataclass(slots=True)
class StopFlag:
    """Set from a signal handler; the loop finishes the batch in hand, commits and returns.

    A second signal while draining raises KeyboardInterrupt: exit now, commit nothing more.
    """

    requested: bool = False

    def set(self, *_: object) -> None:
        if self.requested:
            raise KeyboardInterrupt("second stop signal: leaving without a final commit")
        self.requested = True


@dataclass(slots=True)
class StreamStats:
    """Counts since start, logged periodically and returned by `run`."""

    messages: int = 0
    scored: int = 0
    labelling: int = 0
    dead_letters: int = 0
    batches: int = 0
    commits: int = 0

    def line(self) -> str:
        return " ".join(f"{name}={getattr(self, name)}" for name in self.__slots__)


class StreamProcessor:
    """Owns the loop state: the model, the offset tracker and the batch being collected.

    It is also the consumer's rebalance listener: `on_revoke` commits the finished work of
    the revoked partitions and drops their unprocessed messages (their next owner reads them
    again from the committed offset); `on_lost` drops them without committing.
    """

    def __init__(
        self,
        settings: ServeSettings,
        source: MessageSource,
        sink: MessageSink,
        decoder: Decoder,
        scorer: Scorer,
        *,
        watcher: ModelWatcher | None = None,
        limiter: LabellingLimiter | None = None,
        metrics: Metrics | None = None,
        health: HealthState | None = None,
        stop: StopFlag | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.source = source
        self.sink = sink
        self.decoder = decoder
        self.scorer = scorer
        self.watcher = watcher
        self.limiter = limiter
        self.metrics = metrics
        self.health = health
        self.stop = stop or StopFlag()
        self.clock = clock
        self.tracker = OffsetTracker()
        self.stats = StreamStats()
        self._pending: list[Message] = []
        self._owned: set[Partition] = set()
        self._next_model_poll = clock() + settings.model_poll_s
        self._next_lag = clock()
        self._next_stats = clock() + STATS_EVERY_S

    def run(self) -> StreamStats:
        """Serve until stopped. Each turn of the loop, in this order:

        1. consume: collect up to `batch_size` messages, waiting at most `batch_max_wait_s`
           after the first one arrived;
        2. decode: each message into alert records (a bad message or record becomes a typed
           failure headed for the dead-letter topic; only an unreachable schema registry,
           which is no fault of the message, raises TransientError);
        3. score: preprocess and score every alert of the batch in one ONNX call
           (`rbc1000.model.decisions.score_batch`), deciding real / bogus / uncertain and labelling;
        4. produce: scored records, labelling copies and dead letters, each registered with
           the offset tracker under the input message that caused it;
        5. flush: wait until the broker acknowledged every output (raises DeliveryError);
        6. commit: per partition, the offset after the longest prefix of messages whose
           outputs are all acknowledged.

        Between batches: heartbeat, consumer lag, and a model hot reload if the file changed.
        On a stop request the batch in hand is finished, flushed and committed, then `run`
        returns. On any exception nothing more is committed: the exception propagates, the
        caller closes the consumer, and the unfinished messages are read again after restart.
        """
        self.source.subscribe(self.settings.input_topics, self)
        while not self.stop.requested:
            batch = self._collect()
            if batch:
                self._process(batch)
                self.sink.flush(self.settings.flush_timeout_s)
                self._commit()
                self.stats.batches += 1
            self._between_batches()
        self.sink.flush(self.settings.flush_timeout_s)
        self._commit()
        log.info("stream_stopped %s", self.stats.line())
        return self.stats

    # 1. consume -----------------------------------------------------------------------------

    def _collect(self) -> list[Message]:
        """Messages for one batch; empty after an idle `IDLE_POLL_S` so housekeeping runs."""
        size, max_wait = self.settings.batch_size, self.settings.batch_max_wait_s
        first_at: float | None = None
        while len(self._pending) < size and not self.stop.requested:
            # A batch consume waits for its whole timeout unless it fills up, so the first
            # call asks for one message only: it returns as soon as anything arrives, and
            # the batch's maximum wait is counted from then.
            if first_at is None:
                want, timeout = 1, IDLE_POLL_S
            else:
                want = size - len(self._pending)
                timeout = min(first_at + max_wait - self.clock(), IDLE_POLL_S)
                if timeout <= 0:
                    break
            messages = self.source.consume(want, timeout)
            self.sink.poll()
            for m in messages:
                self.tracker.consumed(m.source, m.offset)
            self._pending.extend(messages)
            if self._pending and first_at is None:
                first_at = self.clock()
            if not self._pending:
                break
        batch, self._pending = self._pending, []
        self.stats.messages += len(batch)
        return batch

    # 2.-4. decode, score, produce ---------------------------------------------------------

    def _process(self, batch: Sequence[Message]) -> None:
        results: list[DecodeResult] = []
        owners: list[tuple[Message, int]] = []  # (message, record index inside it)
        for message in batch:
            decoded = self._decode(message)
            results.extend(decoded)
            owners.extend((message, i) for i in range(len(decoded)))
        for (message, index), result, outcome in zip(owners, results, self._score(results), strict=True):
            if isinstance(outcome, ScoredAlert):
                self._produce_scored(message, outcome)
            else:
                record_index = result.index if isinstance(result, DecodeFailure) else index
                self._produce_dead_letter(message, outcome.reason, outcome.detail, record_index)
        for message in batch:
            self.tracker.processed(message.source, message.offset)

    def _decode(self, message: Message) -> list[DecodeResult]:
        """Records of one message; a message without any becomes one failure."""
        started = time.perf_counter()
        if not message.value:
            decoded: list[DecodeResult] = [
                DecodeFailure(
                    -1, DecodeError("empty_message", "message has no value (tombstone or empty bytes)")
                )
            ]
        else:
            try:
                decoded = self.decoder.decode(message.value)
            except Exception as exc:  # the decoder promises not to raise; survive if it does
                log.exception(
                    "decoder_raised topic=%s partition=%d offset=%d",
                    message.topic,
                    message.partition,
                    message.offset,
                )
                decoded = [DecodeFailure(-1, DecodeError("decoder_error", repr(exc)))]
            if not decoded:
                decoded = [DecodeFailure(-1, DecodeError("no_records", "container is empty"))]
            for r in decoded:
                if isinstance(r, DecodeFailure) and r.error.reason in TRANSIENT_REASONS:
                    raise TransientError(
                        f"{r.error.reason}: {r.error.detail}; nothing "
                        "committed, the message is read again on restart"
                    )
        if self.metrics is not None:
            self.metrics.decode_latency.observe(time.perf_counter() - started)
            for r in decoded:
                survey = r.survey if isinstance(r, Alert) else UNKNOWN_SURVEY
                self.metrics.consumed.labels(survey=survey).inc()
        return decoded

    def _score(self, results: list[DecodeResult]) -> list[Outcome]:
        """One ONNX call for the batch; if it fails, alert by alert, so one bad input cannot
        sink the others. If every alert fails on its own too, the fault is not in the inputs
        (a broken model or device): raise, so that nothing is dead-lettered or committed."""
        try:
            return score_batch(results, self.scorer, self.limiter, self.metrics)
        except Exception:
            log.exception("batch_scoring_failed alerts=%d retry=one_by_one", len(results))
        outcomes: list[Outcome] = []
        failures: list[Exception] = []
        for result in results:
            try:
                outcomes.extend(score_batch([result], self.scorer, self.limiter, self.metrics))
            except Exception as exc:
                failures.append(exc)
                outcomes.append(DeadLetter("scoring_failed", repr(exc), 0))
        if len(failures) > 1 and len(failures) == sum(isinstance(r, Alert) for r in results):
            raise RuntimeError(f"every alert of the batch failed to score: {failures[0]!r}")
        return outcomes

    def _produce_scored(self, message: Message, scored: ScoredAlert) -> None:
        packet = message.value if self.settings.include_packet else None
        record = ScoredRecord.build(scored, self.scorer.info, packet)
        value, key = encode_kafka(record), record.object_id.encode()
        headers = _source_headers(message)
        self._produce(
            message,
            OutputRecord(self.settings.scored_topic, value, key, headers),
            latency_from=message.timestamp_ms,
        )
        self.stats.scored += 1
        if scored.to_labelling:
            self._produce(message, OutputRecord(self.settings.labelling_topic, value, key, headers))
            self.stats.labelling += 1

    def _produce_dead_letter(self, message: Message, reason: str, detail: str, record_index: int) -> None:
        headers: Headers = (
            ("rbc.error.reason", reason.encode()),
            ("rbc.error.detail", detail.encode(errors="replace")[:MAX_DETAIL_BYTES]),
            *_source_headers(message),
            ("rbc.record.index", str(record_index).encode()),
        )
        self._produce(
            message, OutputRecord(self.settings.dead_letter_topic, message.value or b"", message.key, headers)
        )
        self.stats.dead_letters += 1
        log.warning(
            "dead_letter reason=%s topic=%s partition=%d offset=%d index=%d detail=%s",
            reason,
            message.topic,
            message.partition,
            message.offset,
            record_index,
            detail[:200],
        )

    def _produce(self, message: Message, record: OutputRecord, latency_from: int | None = None) -> None:
        """Produce one output on behalf of `message`; its ack moves the commit watermark."""
        part, offset, metrics = message.source, message.offset, self.metrics

        def delivered() -> None:
            self.tracker.acknowledged(part, offset)
            if metrics is not None and latency_from is not None:
                metrics.end_to_end_latency.observe(max(time.time() - latency_from / 1000, 0.0))

        self.tracker.expect(part, offset)
        self.sink.produce(record, delivered)

    # 6. commit ------------------------------------------------------------------------------

    def _commit(self, parts: Sequence[Partition] | None = None) -> None:
        offsets = self.tracker.committable(parts)
        if not offsets:
            return
        failed = set(self.source.commit(offsets))
        self.tracker.committed({p: o for p, o in offsets.items() if p not in failed})
        self.stats.commits += 1

    # between batches ------------------------------------------------------------------------

    def _between_batches(self) -> None:
        now = self.clock()
        if self.health is not None:
            self.health.beat()
            self.health.set_connected(self.source.connected)
        if self.watcher is not None and now >= self._next_model_poll:
            self._next_model_poll = now + self.settings.model_poll_s
            new = self.watcher.poll()
            if new is not None:
                log.info(
                    "model_swapped old_version=%s new_version=%s provider=%s",
                    self.scorer.info.version,
                    new.info.version,
                    new.provider,
                )
                self.scorer = new
        if self.metrics is not None and now >= self._next_lag:
            self._next_lag = now + LAG_EVERY_S
            for part, lag in self.source.lag().items():
                self.metrics.set_lag(part.topic, part.partition, lag)
        if now >= self._next_stats:
            self._next_stats = now + STATS_EVERY_S
            log.info("stream_progress %s", self.stats.line())

    # rebalance listener ---------------------------------------------------------------------

    def on_assign(self, partitions: list[Partition]) -> None:
        """New partitions: start their bookkeeping from scratch."""
        self.tracker.forget(partitions)
        self._owned.update(partitions)
        log.info("partitions_assigned %s", _names(partitions))
        self._set_partitions()

    def on_revoke(self, partitions: list[Partition]) -> None:
        """Commit the finished work of the revoked partitions, drop the rest of their messages."""
        self.sink.flush(self.settings.flush_timeout_s)
        self._commit(partitions)
        self._drop(set(partitions))
        log.info("partitions_revoked %s", _names(partitions))

    def on_lost(self, partitions: list[Partition]) -> None:
        """Partitions already given to another member: commit nothing, drop their messages."""
        self._drop(set(partitions))
        log.warning("partitions_lost %s", _names(partitions))

    def _drop(self, parts: set[Partition]) -> None:
        self._pending = [m for m in self._pending if m.source not in parts]
        self.tracker.forget(parts)
        self._owned.difference_update(parts)
        if self.metrics is not None:
            for part in parts:
                self.metrics.forget_partition(part.topic, part.partition)
        self._set_partitions()

    def _set_partitions(self) -> None:
        if self.health is not None:
            self.health.set_partitions(len(self._owned))


def _source_headers(message: Message) -> Headers:
    return (
        ("rbc.source.topic", message.topic.encode()),
        ("rbc.source.partition", str(message.partition).encode()),
        ("rbc.source.offset", str(message.offset).encode()),
        ("rbc.source.timestamp_ms", str(message.timestamp_ms or -1).encode()),
    )


def _names(partitions: Sequence[Partition]) -> str:
    return ",".join(f"{p.topic}:{p.partition}" for p in partitions) or "-"
