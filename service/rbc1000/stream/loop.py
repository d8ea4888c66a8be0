"""The run loop of `rbc serve`: consume, decode, score, produce, flush, commit, at least once.

Outputs, per input message:

- **scored topic**: one record per alert, the scored Avro record of
  `rbc1000.stream.records` in the output framing (`Collaborators.framer`), key = object id;
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
traced back to the input offset it came from. An output that would exceed `message_max_bytes`
goes out without its packet, or as an `oversized` dead letter (`rbc1000.stream.outputs`).

The pieces: `rbc1000.stream.batcher` collects a batch, `rbc1000.stream.decode_stage` decodes
it on a thread of its own, `rbc1000.stream.outputs` builds the output records,
`rbc1000.stream.housekeeping` runs between batches; this module holds the loop that puts them
in order and the offset bookkeeping that makes it at least once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from rbc1000.alerts.framing import RecordFramer
from rbc1000.alerts.native import BatchDecoder
from rbc1000.model.decisions import (
    LabellingLimiter,
    Outcome,
    ScoredAlert,
)
from rbc1000.model.set_reload import score_with_rollback
from rbc1000.model.survey_models import Serving
from rbc1000.ops.health import HealthState, NullHealth
from rbc1000.ops.metrics import Metrics, NullMetrics
from rbc1000.ops.settings import ServeSettings
from rbc1000.stream.batcher import Batcher
from rbc1000.stream.decode_stage import (
    DecodeAhead,
    DecodedMessages,
    InFlight,
    Record,
    TransientError,
)
from rbc1000.stream.failure_cap import capped
from rbc1000.stream.housekeeping import FixedModel, Housekeeping, ModelPoller
from rbc1000.stream.kafka_io import Message, MessageSink, MessageSource, OutputRecord, Partition
from rbc1000.stream.offsets import OffsetTracker
from rbc1000.stream.outputs import dead_letter_record, labelling_record, scored_record
from rbc1000.stream.records import scored_framer
from rbc1000.stream.score_stage import score_with_fallback
from rbc1000.stream.stats import StreamStats
from rbc1000.stream.stop import StopFlag
from rbc1000.stream.transactions import Committer, ConsumerCommitter

__all__ = ["Collaborators", "StopFlag", "StreamProcessor", "StreamStats", "TransientError"]

log = logging.getLogger(__name__)


def _unlimited() -> LabellingLimiter:
    return LabellingLimiter(math.inf)


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What the loop works with. The optional ones default to null objects: a model that is
    never reloaded, no labelling cap, metrics and health that nothing serves, a stop flag only
    the source or a test sets."""

    source: MessageSource
    sink: MessageSink
    decoder: BatchDecoder  # `rbc1000.alerts.native.make_batch_decoder`
    scorer: Serving  # the model(s) to start with; a hot reload replaces them in the processor
    watcher: ModelPoller = field(default_factory=FixedModel)
    limiter: LabellingLimiter = field(default_factory=_unlimited)
    metrics: Metrics = field(default_factory=NullMetrics)
    health: HealthState = field(default_factory=NullHealth)
    stop: StopFlag = field(default_factory=StopFlag)
    clock: Callable[[], float] = time.monotonic
    framer: RecordFramer = field(default_factory=scored_framer)  # the output framing
    committer: Committer | None = None  # None: the source commits (at least once)


class StreamProcessor:
    """Owns the loop state: the model in use, the offset tracker, the batcher and the batch
    whose decode is under way.

    It is also the consumer's rebalance listener: `on_revoke` finishes the batch in hand,
    commits the finished work of the revoked partitions and drops their unprocessed messages
    (their next owner reads them again from the committed offset); `on_lost` drops them
    without committing.
    """

    def __init__(self, settings: ServeSettings, parts: Collaborators) -> None:
        self.settings = settings
        self.parts = parts
        self.scorer = parts.scorer
        self.tracker = OffsetTracker()
        self.committer: Committer = parts.committer or ConsumerCommitter(parts.source)
        self.stats = StreamStats()
        self._owned: set[Partition] = set()
        self._behind: InFlight | None = None  # consumed, decoding or decoded, not yet scored
        self._live: list[InFlight] = []  # every batch submitted and not yet finished
        self._rebalancing = False  # inside a rebalance callback, which must not poll the consumer
        self._decoding: DecodeAhead | None = None  # the decode thread, while `run` runs
        self.batcher = Batcher(
            parts.source,
            self.tracker,
            settings.batch_size,
            settings.batch_max_wait_s,
            parts.stop,
            parts.clock,
            while_waiting=parts.sink.poll,
        )
        self.housekeeping = Housekeeping(
            parts.source,
            parts.watcher,
            parts.metrics,
            parts.health,
            model_poll_s=settings.model_poll_s,
            now=parts.clock(),
        )
        self._published: tuple[str, str] | None = None
        self._publish_decode()

    def run(self) -> StreamStats:
        """Serve until stopped. For each batch, in this order:

        1. consume: collect up to `batch_size` messages, waiting at most `batch_max_wait_s`
           after the first one arrived (`rbc1000.stream.batcher`);
        2. decode: the whole batch in one call, on the decode thread, into alert records and
           the model's input triplets (`rbc1000.stream.decode_stage`: a bad message or record
           becomes a typed failure headed for the dead-letter topic; only an unreachable
           schema registry, which is no fault of the message, raises TransientError); while
           it runs, the consumer keeps polling with its partitions paused (`Batcher.wait`);
        3. score: every triplet of the batch in one ONNX call
           (`rbc1000.model.decisions.score_batch`), deciding real / bogus / uncertain and labelling;
        4. produce: scored records, labelling copies and dead letters
           (`rbc1000.stream.outputs`), each registered with the offset tracker under the input
           message that caused it;
        5. flush: wait until the broker acknowledged every output (raises DeliveryError);
        6. commit: per partition, the offset after the longest prefix of messages whose
           outputs are all acknowledged, through the committer: the consumer's commit, or
           under `--exactly-once` the offsets and the batch's outputs in one Kafka
           transaction (`rbc1000.stream.transactions`).

        Batches overlap by one step: batch n+1 is consumed and decoded while batch n is
        scored and produced, and batch n is finished (steps 3 to 6) before batch n+2 is
        consumed, so commits follow acknowledgements in order. Between batches
        (`rbc1000.stream.housekeeping`): heartbeat, consumer lag, and a model hot reload if
        the file changed. On a stop request the batches in hand are finished, flushed and
        committed, then `run` returns. On any exception nothing more is committed: the
        exception propagates, the caller closes the consumer, and the unfinished messages
        are read again after restart.
        """
        parts, settings = self.parts, self.settings
        parts.source.subscribe(settings.input_topics, self)
        try:
            with DecodeAhead(parts.decoder, parts.metrics) as decoding:
                self._decoding = decoding
                while not parts.stop.requested:
                    # While a batch waits to be finished, start a new one only from what
                    # has arrived, so that waiting for input never holds up the one in hand.
                    batch = self.batcher.collect(0.0) if self._behind else self.batcher.collect()
                    ahead = self._submit(decoding, batch) if batch else None
                    if self._behind is not None:
                        self._finish(self._behind)
                    self._behind = ahead
                    self.scorer = self.housekeeping.tick(parts.clock(), self.scorer, self.stats.line)
                    self._publish_decode()
                if self._behind is not None:
                    self._finish(self._behind)
        except BaseException:
            self.committer.abort()  # exactly once: an open transaction's outputs stay invisible
            raise
        finally:
            self._behind, self._decoding = None, None  # after a failure, a revocation must not finish it
            self._live.clear()
        parts.sink.flush(settings.flush_timeout_s)
        self._commit()
        log.info("stream_stopped %s", self.stats.line())
        return self.stats

    def _finish(self, batch: InFlight) -> None:
        """Steps 3 to 6 for a batch whose decode (step 2) was started earlier."""
        self._behind = None
        decoded = self._decoded(batch).without(batch.dropped)
        self.stats.messages += len(batch.kept_messages())
        outcomes, self.scorer = score_with_rollback(  # 3. score (a bad reload is rolled back)
            decoded.results,
            self.scorer,
            self.parts.limiter,
            self.parts.metrics,
            decoded.prepared,
            score_with_fallback,
            self.parts.watcher,
        )
        self._produce(batch.kept_messages(), decoded.records, outcomes)  # 4. produce
        self.parts.sink.flush(self.settings.flush_timeout_s)  # 5. flush
        self._commit()  # 6. commit
        self.stats.batches += 1
        self._live.remove(batch)
        elapsed = self.parts.clock() - batch.started
        self.batcher.fit(len(batch.messages), elapsed, self.settings.batch_time_budget_s)

    # 2. decode ------------------------------------------------------------------------------

    def _version(self) -> str:
        return self.scorer.info.preprocessing_version

    def _submit(self, decoding: DecodeAhead, batch: list[Message]) -> InFlight:
        ahead = decoding.submit(batch, self._version(), self.parts.clock())
        self._live.append(ahead)
        return ahead

    def _decoded(self, batch: InFlight) -> DecodedMessages:
        """The batch's records and triplets once its decode is done; decoded again, on the
        decode thread, when a model reload since then wants another preprocessing version."""
        decoded = self._wait(batch.decoded)
        if batch.version != self._version() and self._decoding is not None:
            log.info("decode_again reason=preprocessing_changed version=%s", self._version())
            decoded = self._wait(self._decoding.submit(batch.messages, self._version()).decoded)
        return decoded

    def _wait(self, decoding: Future[DecodedMessages]) -> DecodedMessages:
        """A decode's result; the consumer keeps polling (partitions paused) while it runs,
        except inside a rebalance callback, where librdkafka must not be polled."""
        return decoding.result() if self._rebalancing else self.batcher.wait(decoding)

    def _publish_decode(self) -> None:
        """Log and export the decode path, and who preprocesses, whenever the latter changes."""
        decoder, version = self.parts.decoder, self._version()
        preprocessing = decoder.preprocessing(version)
        if self._published == (version, preprocessing):
            return
        self._published = (version, preprocessing)
        self.parts.metrics.set_decode(decoder.path, preprocessing)
        log.info("decode_in_use path=%s preprocessing=%s version=%s", decoder.path, preprocessing, version)

    # 4. produce -----------------------------------------------------------------------------

    def _produce(self, batch: Sequence[Message], records: list[Record], outcomes: list[Outcome]) -> None:
        """The outputs of every record; then each message of the batch counts as processed."""
        cap = self.settings.max_dead_letters_per_message
        for record, outcome in capped(records, outcomes, cap):
            if isinstance(outcome, ScoredAlert):
                self._produce_scored(record.message, outcome)
            else:
                self._produce_dead_letter(record.message, outcome.reason, outcome.detail, record.index)
        for message in batch:
            self.tracker.processed(message.source, message.offset)

    def _produce_scored(self, message: Message, scored: ScoredAlert) -> None:
        if scored.p_real is None and not self.settings.publish_unscored:
            return  # no verdict, and its readers cannot read a record without one: counted only
        record = scored_record(message, scored, self.scorer.info, self.settings, self.parts.framer)
        self._send(message, record, latency_from=message.timestamp_ms)
        self.stats.scored += 1
        if scored.to_labelling:  # always with the packet: a labeller needs the stamps
            labelling = labelling_record(
                message, scored, self.scorer.info, record, self.settings, self.parts.framer
            )
            self._send(message, labelling)
            self.stats.labelling += 1

    def _produce_dead_letter(self, message: Message, reason: str, detail: str, record_index: int) -> None:
        self._send(message, dead_letter_record(message, reason, detail, record_index, self.settings))
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

    def _send(self, message: Message, record: OutputRecord, latency_from: int | None = None) -> None:
        """Produce one output on behalf of `message`; its ack moves the commit watermark."""
        part, offset, tracker, metrics = message.source, message.offset, self.tracker, self.parts.metrics

        def delivered() -> None:
            tracker.acknowledged(part, offset)
            if latency_from is not None:
                metrics.end_to_end_latency.observe(max(time.time() - latency_from / 1000, 0.0))

        tracker.expect(part, offset)
        self.parts.sink.produce(record, delivered)

    # 6. commit ------------------------------------------------------------------------------

    def _commit(self, parts: Sequence[Partition] | None = None) -> None:
        offsets = self.tracker.committable(parts)
        if not offsets:
            return
        failed = set(self.committer.commit(offsets))
        self.tracker.committed({p: o for p, o in offsets.items() if p not in failed})
        self.stats.commits += 1

    # rebalance listener ---------------------------------------------------------------------

    def on_assign(self, partitions: list[Partition]) -> None:
        """New partitions: start their bookkeeping from scratch."""
        self.tracker.forget(partitions)
        self._owned.update(partitions)
        log.info("partitions_assigned %s", _names(partitions))
        self.parts.health.set_partitions(len(self._owned))

    def on_revoke(self, partitions: list[Partition]) -> None:
        """Finish the batch in hand, commit the finished work of the revoked partitions, drop
        the rest of their messages."""
        self._rebalancing = True
        try:
            if self._behind is not None:
                self._finish(self._behind)
        finally:
            self._rebalancing = False
        self.parts.sink.flush(self.settings.flush_timeout_s)
        self._commit(partitions)
        self._drop(set(partitions))
        log.info("partitions_revoked %s", _names(partitions))

    def on_lost(self, partitions: list[Partition]) -> None:
        """Partitions already given to another member: commit nothing, drop their messages."""
        self._drop(set(partitions))
        log.warning("partitions_lost %s", _names(partitions))

    def _drop(self, parts: set[Partition]) -> None:
        for batch in self._live:
            batch.dropped.update(parts)
        self.batcher.drop(parts)
        self.tracker.forget(parts)
        self._owned.difference_update(parts)
        for part in parts:
            self.parts.metrics.forget_partition(part.topic, part.partition)
        self.parts.health.set_partitions(len(self._owned))


def _names(partitions: Sequence[Partition]) -> str:
    return ",".join(f"{p.topic}:{p.partition}" for p in partitions) or "-"
