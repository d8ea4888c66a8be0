"""How a batch's work is committed: consumer offsets after the acks (at least once, the default),
or one Kafka transaction per batch holding its outputs and its input offsets (exactly once).

The run loop (`rbc1000.stream.loop`) ends every batch with flush, then `Committer.commit`, and
calls `Committer.abort` when it fails. With `--exactly-once` the sink and the committer are
one `TransactionalSink`, the consume-transform-produce pattern of Kafka's transactions:

1. the first output of a batch (scored record, labelling copy or dead letter alike) opens a
   transaction (`begin_transaction`), so every output of the batch belongs to it;
2. the loop's flush waits for the broker's acknowledgements, as without transactions;
3. `commit` adds the batch's input offsets to the transaction
   (`send_offsets_to_transaction` with the consumer's group metadata, which lets the group
   coordinator refuse offsets from a member the group has since replaced) and commits it
   (`commit_transaction`): the outputs become visible to `read_committed` consumers and the
   offsets advance together, or neither happens.

A failure aborts the open transaction, and nothing is committed after it: a consumer reading
with `isolation.level=read_committed` never sees the aborted outputs, and the batch is read
again after the restart. Fatal errors (above all `PRODUCER_FENCED`: another live process uses
the same `transactional.id`) raise `KafkaFatalError`, which `rbc serve` turns into exit 1
with a one-line message.

Rebalances need nothing more here: the loop's `on_revoke` finishes the batch in hand (one more
transaction, committed with the revoked partitions' offsets) before the partitions go, and a
transaction is never open while the consumer polls, since the loop opens and commits it
within one batch's produce, flush and commit steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from rbc1000.stream.bounded_call import bounded
from rbc1000.stream.kafka_io import KafkaConsumer, KafkaFatalError, KafkaProducer
from rbc1000.stream.messages import OutputRecord, Partition
from rbc1000.stream.ports import MessageSink, MessageSource

__all__ = [
    "Committer",
    "ConsumerCommitter",
    "TransactionAborted",
    "TransactionalProducer",
    "TransactionalSink",
    "batch_delivery",
]

log = logging.getLogger(__name__)


class Committer(Protocol):
    """The loop's commit step (after flush) and what it does when a batch fails."""

    def commit(self, offsets: Mapping[Partition, int]) -> list[Partition]:
        """Commit the next offsets to read; returns the partitions whose commit failed."""
        ...

    def abort(self) -> None:
        """The loop failed: whatever is not committed yet must never be."""
        ...


class ConsumerCommitter:
    """At least once: the consumer commits the offsets whose outputs are all acknowledged.

    `abort` does nothing: acknowledged outputs are already visible, and their offsets may still
    be committed when the consumer leaves the group.
    """

    def __init__(self, source: MessageSource) -> None:
        self._source = source

    def commit(self, offsets: Mapping[Partition, int]) -> list[Partition]:
        return self._source.commit(offsets)

    def abort(self) -> None:
        return None


class TransactionAborted(KafkaFatalError):
    """A batch's transaction failed and was aborted: the service stops, and its input is read
    again after the restart (a retry inside the process would need the consumer rewound)."""


class TransactionalClient(Protocol):
    """The transaction calls of a producer with a `transactional.id` (`TransactionalProducer`)."""

    def produce(self, record: OutputRecord, on_delivered: Callable[[], None]) -> None: ...

    def poll(self) -> None: ...

    def flush(self, timeout_s: float) -> None: ...

    def init_transactions(self, timeout_s: float) -> None: ...

    def begin_transaction(self) -> None: ...

    def send_offsets_to_transaction(
        self, offsets: Mapping[Partition, int], group_metadata: Any, timeout_s: float
    ) -> None: ...

    def commit_transaction(self, timeout_s: float) -> None: ...

    def abort_transaction(self, timeout_s: float) -> None: ...


class TransactionalProducer(KafkaProducer):
    """`KafkaProducer` whose config holds a `transactional.id`, with librdkafka's transaction
    calls (which raise KafkaException)."""

    def init_transactions(self, timeout_s: float) -> None:
        self._producer.init_transactions(timeout_s)

    def begin_transaction(self) -> None:
        self._producer.begin_transaction()

    def send_offsets_to_transaction(
        self, offsets: Mapping[Partition, int], group_metadata: Any, timeout_s: float
    ) -> None:
        tps = [TopicPartition(p.topic, p.partition, o) for p, o in offsets.items()]
        self._producer.send_offsets_to_transaction(tps, group_metadata, timeout_s)

    def commit_transaction(self, timeout_s: float) -> None:
        self._producer.commit_transaction(timeout_s)

    def abort_transaction(self, timeout_s: float) -> None:
        self._producer.abort_transaction(timeout_s)


def _kafka_error(exc: KafkaException) -> KafkaError | None:
    err = exc.args[0] if exc.args else None
    return err if isinstance(err, KafkaError) else None


class TransactionalSink:
    """The loop's sink and committer under `--exactly-once`: one transaction per batch.

    States: idle (no transaction), open (outputs produced since the last commit) and failed
    (after an abort or a fatal error: it produces and commits nothing more).
    """

    def __init__(
        self,
        producer: TransactionalClient,
        group_metadata: Callable[[], Any],
        timeout_s: float,
        grace_s: float = 5.0,  # past librdkafka's own timeout, before a call counts as hung
    ) -> None:
        self._producer = producer
        self._group_metadata = group_metadata
        self._timeout_s = timeout_s
        self._grace_s = grace_s
        self._state = "idle"
        self.transactions = 0  # committed, since start

    def start(self, timeout_s: float) -> None:
        """Register the transactional.id with its coordinator, fencing any earlier producer
        with the same id and aborting the transaction it left open."""
        self._call("init", self._producer.init_transactions, timeout_s)
        log.info("transactions_ready isolation=read_committed")

    # MessageSink ----------------------------------------------------------------------------

    def produce(self, record: OutputRecord, on_delivered: Callable[[], None]) -> None:
        """Queue one output inside the batch's transaction, opening it on the first output."""
        if self._state == "failed":
            raise TransactionAborted("no output after a failed transaction: restart the service")
        if self._state == "idle":
            self._call("begin", lambda _: self._producer.begin_transaction())
            self._state = "open"
        self._producer.produce(record, on_delivered)

    def poll(self) -> None:
        self._producer.poll()

    def flush(self, timeout_s: float) -> None:
        """Wait for every output's acknowledgement. On a failure the transaction is aborted at
        once; a producer that turns out fenced or otherwise fatally broken is named as such.
        Nothing to wait for once failed: no output of the aborted transaction can count."""
        if self._state == "failed":
            return
        try:
            self._producer.flush(timeout_s)
        except Exception as exc:  # DeliveryError; a fenced producer's flush can end in SystemError
            fatal = self._abort()
            if fatal is None:
                raise
            raise KafkaFatalError(self._fatal_text(fatal)) from exc

    # Committer ------------------------------------------------------------------------------

    def commit(self, offsets: Mapping[Partition, int]) -> list[Partition]:
        """Add `offsets` to the open transaction and commit it; nothing to do without either.

        Returns [] (the commit is all or nothing: a failure raises), or every partition when
        the sink has failed, so the loop records nothing as committed.
        """
        if self._state == "failed":
            return list(offsets)
        if self._state == "idle" and not offsets:
            return []
        if self._state == "idle":
            self._call("begin", lambda _: self._producer.begin_transaction())
            self._state = "open"
        if offsets:
            group = self._group_metadata()
            self._call(
                "send_offsets", lambda left: self._producer.send_offsets_to_transaction(offsets, group, left)
            )
        self._call("commit", self._producer.commit_transaction)
        self._state = "idle"
        self.transactions += 1
        return []

    def abort(self) -> None:
        """Abort the open transaction, if any, and refuse every later output and commit."""
        self._abort()

    def _abort(self) -> str | None:
        """`abort`; the error when the abort failed on a fatal one (fenced producer), else None.

        The abort is also how a fatal error gets its name: confluent-kafka cannot hand it to
        the error callback while flushing (the callback fails, and flush raises SystemError).
        """
        fatal = None
        if self._state == "open":
            timeout_s = self._timeout_s
            try:
                bounded(
                    lambda: self._producer.abort_transaction(timeout_s),
                    timeout_s + self._grace_s,
                    "rbc-transaction-abort",
                )
                log.warning("transaction_aborted outputs=invisible_to_read_committed")
            except (KafkaException, TimeoutError) as exc:  # the coordinator aborts it in the end
                log.error("transaction_abort_failed error=%s", exc)
                err = _kafka_error(exc) if isinstance(exc, KafkaException) else None
                fatal = f"{err.name()}: {err.str()}" if err is not None and err.fatal() else None
        self._state = "failed"
        return fatal

    # errors ---------------------------------------------------------------------------------

    def _call(self, step: str, call: Callable[[float], None], timeout_s: float | None = None) -> None:
        """One transaction call, given the seconds left: retried while retriable and time is
        left; an abortable error aborts and raises TransactionAborted; anything else, or no
        answer in time, is fatal (KafkaFatalError)."""
        limit = self._timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit
        while True:
            left = max(deadline - time.monotonic(), 0.1)
            try:
                # librdkafka may overrun its own timeout here (confluentinc/librdkafka#5456, a
                # broker restarted under a send_offsets): the thread bounds the wait.
                bounded(partial(call, left), left + self._grace_s, f"rbc-transaction-{step}")
                return
            except TimeoutError:
                self._state = "failed"
                raise KafkaFatalError(f"transaction {step} unanswered after {limit} s") from None
            except KafkaException as exc:
                err = _kafka_error(exc)
                if err is not None and err.retriable() and time.monotonic() < deadline:
                    log.warning("transaction_retry step=%s error=%s", step, err.str())
                    time.sleep(0.1)
                    continue
                if err is not None and err.txn_requires_abort():
                    self.abort()
                    raise TransactionAborted(f"transaction {step} failed, aborted: {err.str()}") from None
                self._state = "failed"
                text = f"{err.name()}: {err.str()}" if err is not None else str(exc)
                raise KafkaFatalError(self._fatal_text(text, step)) from None

    @staticmethod
    def _fatal_text(error: str, step: str = "produce") -> str:
        hint = ""
        if "FENCED" in error.upper():
            hint = " (another live instance uses this transactional.id: give each its own --instance-id)"
        return f"transaction {step} failed: {error}{hint}"


def batch_delivery(
    producer: KafkaProducer, source: KafkaConsumer, commit_timeout_s: float, start_timeout_s: float
) -> tuple[MessageSink, Committer]:
    """The loop's sink and committer: the producer with the consumer's commits, or, for a
    `TransactionalProducer`, one started `TransactionalSink` as both."""
    if not isinstance(producer, TransactionalProducer):
        return producer, ConsumerCommitter(source)
    sink = TransactionalSink(producer, source.group_metadata, commit_timeout_s)
    sink.start(start_timeout_s)
    return sink, sink
