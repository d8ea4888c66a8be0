"""The project's thin wrapper around confluent-kafka: a consumer that commits only explicit
offsets within a time bound, and an idempotent producer whose delivery errors surface on the
main thread. The frozen records it reads and writes are `rbc1000.stream.messages`'s.

The run loop (`rbc1000.stream.loop`) sees only the `MessageSource` and `MessageSink` protocols
(`rbc1000.stream.ports`, re-exported here), so its batching, routing and offset bookkeeping are
unit-tested with in-memory fakes; the integration tests drive these real classes against a broker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from rbc1000.stream.bounded_call import bounded
from rbc1000.stream.client_log import ClientLog, client_settings, make_client
from rbc1000.stream.messages import Headers, Message, OutputRecord, Partition, message_from_kafka
from rbc1000.stream.ports import MessageSink, MessageSource, RebalanceListener

__all__ = [
    "CommitTimeoutError",
    "DeliveryError",
    "Headers",
    "KafkaConsumer",
    "KafkaFatalError",
    "KafkaProducer",
    "Message",
    "MessageSink",
    "MessageSource",
    "OutputRecord",
    "Partition",
    "RebalanceListener",
]

log = logging.getLogger(__name__)

STATS_INTERVAL_MS = 5000  # how often librdkafka reports broker states (readiness follows them)
CLOSE_TIMEOUT_S = 10.0  # leaving the group waits at most this long for an answer


class KafkaFatalError(RuntimeError):
    """The client hit an error it cannot recover from (for example a fenced idempotent producer)."""


class DeliveryError(RuntimeError):
    """At least one produced message was not acknowledged by the broker."""


class CommitTimeoutError(KafkaFatalError):
    """A commit got no answer within its time bound (the broker is gone): stop, exit 1."""


def _rebalance_hook(callback: Callable[[list[Partition]], None]) -> Callable[[Any, Any], None]:
    def hook(_consumer: Any, partitions: list[TopicPartition]) -> None:
        callback([Partition(tp.topic, tp.partition) for tp in partitions])

    return hook


class KafkaConsumer:
    """A consumer in a group that commits only the offsets the caller names.

    Automatic commit and automatic offset storing are off: a background commit would mark
    messages done whose outputs the producer has not yet delivered, which breaks at-least-once.
    """

    def __init__(
        self,
        client_config: Mapping[str, str],
        group_id: str,
        auto_offset_reset: str = "earliest",
        commit_timeout_s: float = 15.0,
    ) -> None:
        self.client_log = ClientLog("consumer")
        config = client_settings(client_config, self.client_log)
        config.update(
            {
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": auto_offset_reset,
                "error_cb": self._on_error,
                "stats_cb": self._on_stats,
                "statistics.interval.ms": STATS_INTERVAL_MS,
            }
        )
        self._consumer: Consumer = make_client(Consumer, config)
        self.commit_timeout_s = commit_timeout_s
        self._connected = False
        self.assigned: set[Partition] = set()

    def _on_error(self, err: KafkaError) -> None:
        # Runs inside librdkafka's poll: record and log only, never raise.
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._connected = False
        self.client_log.on_error(err)

    def _on_stats(self, stats: str) -> None:
        # Runs inside librdkafka's poll: never raise. The broker states are the truth about
        # the connection; error_cb only says when it was lost.
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            self._connected = brokers_up(json.loads(stats))

    @property
    def connected(self) -> bool:
        """Whether a broker answers, from librdkafka's statistics and error callbacks (served
        by `consume`): False from an `_ALL_BROKERS_DOWN` or `_TRANSPORT` error, or statistics
        without a broker up, until statistics show one up again or partitions are assigned."""
        return self._connected

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener) -> None:
        """Join the group for these topics (an entry starting with ^ is a regex)."""

        def assign(parts: list[Partition]) -> None:
            self._connected = True
            self.assigned.update(parts)
            listener.on_assign(parts)

        def revoke(parts: list[Partition]) -> None:
            listener.on_revoke(parts)
            self.assigned.difference_update(parts)

        def lost(parts: list[Partition]) -> None:
            listener.on_lost(parts)
            self.assigned.difference_update(parts)

        self._consumer.subscribe(
            list(topics),
            on_assign=_rebalance_hook(assign),
            on_revoke=_rebalance_hook(revoke),
            on_lost=_rebalance_hook(lost),
        )

    def consume(self, max_messages: int, timeout_s: float) -> list[Message]:
        """Up to `max_messages` messages within `timeout_s`; per-message errors are logged."""
        out: list[Message] = []
        for m in self._consumer.consume(num_messages=max_messages, timeout=timeout_s):
            err = m.error()
            if err is not None:
                if err.fatal():
                    raise KafkaFatalError(f"consumer: {err.str()}")
                if err.code() != KafkaError._PARTITION_EOF:
                    self.client_log.on_error(err)
                continue
            out.append(message_from_kafka(m))
        return out

    def commit(self, offsets: Mapping[Partition, int]) -> list[Partition]:
        """Synchronously commit the next offset to read per partition; returns those that failed.

        A failed commit (for instance during a rebalance) is not fatal to at-least-once: the
        partition's next owner re-reads from the last committed offset. A commit without an
        answer within `commit_timeout_s` raises CommitTimeoutError: librdkafka keeps retrying
        a commit for minutes while the broker is gone, and the service must stop instead.
        """
        if not offsets:
            return []
        tps = [TopicPartition(p.topic, p.partition, o) for p, o in offsets.items()]
        try:
            result = bounded(
                lambda: self._consumer.commit(offsets=tps, asynchronous=False) or [],
                self.commit_timeout_s,
                "rbc-commit",
            )
        except TimeoutError:
            raise CommitTimeoutError(
                f"commit of {len(tps)} partitions unanswered after {self.commit_timeout_s} s"
            ) from None
        except KafkaException as exc:
            log.warning("kafka_commit_failed partitions=%d reason=%s", len(tps), exc)
            return list(offsets)
        failed = [Partition(tp.topic, tp.partition) for tp in result if tp.error is not None]
        for tp in result:
            if tp.error is not None:
                log.warning(
                    "kafka_commit_failed topic=%s partition=%d reason=%s", tp.topic, tp.partition, tp.error
                )
        return failed

    def lag(self) -> dict[Partition, int]:
        """High watermark minus position per assigned partition (from cached fetch metadata).

        A partition this consumer has not read from yet has no position: its lag counts from
        the low watermark, so an empty partition reads 0 rather than going unreported.
        """
        if not self.assigned:
            return {}
        tps = [TopicPartition(p.topic, p.partition) for p in self.assigned]
        lags: dict[Partition, int] = {}
        for tp in self._consumer.position(tps):
            low, high = self._consumer.get_watermark_offsets(tp, cached=True) or (-1, -1)
            position = tp.offset if tp.offset >= 0 else low
            if position >= 0 and high >= 0:
                lags[Partition(tp.topic, tp.partition)] = max(high - position, 0)
        return lags

    def group_metadata(self) -> Any:
        """This member's group metadata, for a transaction's offsets (`rbc1000.stream.transactions`)."""
        return self._consumer.consumer_group_metadata()

    def pause(self) -> None:
        """Stop fetching every assigned partition; `consume` keeps the group membership alive
        (librdkafka's poll interval) and returns nothing from paused partitions."""
        if self.assigned:
            self._consumer.pause([TopicPartition(p.topic, p.partition) for p in self.assigned])

    def resume(self) -> None:
        """Fetch the assigned partitions again, from the position after the last message returned."""
        if self.assigned:
            self._consumer.resume([TopicPartition(p.topic, p.partition) for p in self.assigned])

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Leave the group, waiting at most `timeout_s` (with the broker gone librdkafka would
        wait much longer). Commits nothing: whatever was not committed is read again."""
        try:
            bounded(self._consumer.close, timeout_s, "rbc-close")
        except TimeoutError:
            log.error("consumer_close_timeout after_s=%s left_group=unknown", timeout_s)


class KafkaProducer:
    """An idempotent producer (acks=all, no reordering or duplicates on retry).

    librdkafka calls the delivery callback from `poll`/`flush` on this thread; the callback
    never raises: it records failures, and `flush` raises them as one `DeliveryError`.

    A record refused as too large (`MSG_SIZE_TOO_LARGE`: by this client when it exceeds
    `message_max_bytes`, or by the broker when it exceeds the topic's `max.message.bytes`)
    is sent again in its `smaller` form; the broker refuses a whole batch, so a record
    without a smaller form is sent again as it is. After `SIZE_ATTEMPTS` refusals a record is
    a delivery failure like any other.
    """

    SIZE_ATTEMPTS = 3

    def __init__(
        self, client_config: Mapping[str, str], linger_ms: int = 5, message_max_bytes: int | None = None
    ) -> None:
        self.client_log = ClientLog("producer")
        config = client_settings(client_config, self.client_log)
        config.setdefault("linger.ms", linger_ms)
        config.update({"enable.idempotence": True, "acks": "all", "error_cb": self._on_error})
        if message_max_bytes is not None:
            config["message.max.bytes"] = message_max_bytes
        self._producer: Producer = make_client(Producer, config)
        self._failures: list[str] = []
        self._resend: list[tuple[OutputRecord, Callable[[], None], int]] = []
        self.delivered = 0

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._failures.append(f"fatal producer error {err.name()}: {err.str()}")
        self.client_log.on_error(err)

    def produce(self, record: OutputRecord, on_delivered: Callable[[], None], attempt: int = 1) -> None:
        """Queue one record; `on_delivered` runs once the broker has acknowledged it."""

        def callback(err: KafkaError | None, _msg: Any) -> None:
            try:
                if (
                    err is not None
                    and err.code() == KafkaError.MSG_SIZE_TOO_LARGE
                    and attempt < self.SIZE_ATTEMPTS
                ):
                    self._resend.append((record, on_delivered, attempt))
                elif err is not None:
                    self._failures.append(f"{record.topic}: {err.name()} {err.str()}")
                else:
                    self.delivered += 1
                    on_delivered()
            except Exception as exc:  # a raise here would vanish inside librdkafka
                self._failures.append(f"{record.topic}: delivery callback failed: {exc!r}")

        while True:
            try:
                self._producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                    on_delivery=callback,
                )
                return
            except BufferError:
                self._producer.poll(0.05)  # local queue full: let deliveries drain
            except KafkaException as exc:
                if not _too_large(exc) or record.smaller is None:
                    raise
                log.warning(
                    "output_oversized topic=%s bytes=%d sent=smaller", record.topic, len(record.value)
                )
                record = record.smaller()

    def _send_again(self) -> None:
        """Produce the records refused as too large, in their smaller form when they have one."""
        again, self._resend = self._resend, []
        for record, on_delivered, attempt in again:
            log.warning("output_oversized topic=%s bytes=%d sent=smaller", record.topic, len(record.value))
            self.produce(record.smaller() if record.smaller else record, on_delivered, attempt + 1)

    def poll(self) -> None:
        """Serve delivery callbacks that are ready, without waiting."""
        self._producer.poll(0)
        self._send_again()

    def flush(self, timeout_s: float) -> None:
        """Wait for every queued record; raise DeliveryError if any failed or is still queued."""
        deadline = time.monotonic() + timeout_s
        remaining = self._producer.flush(timeout_s)
        while self._resend:
            self._send_again()
            remaining = self._producer.flush(max(deadline - time.monotonic(), 0.5))
        failures, self._failures = self._failures, []
        if remaining:
            failures.append(f"{remaining} records not acknowledged within {timeout_s} s")
        if failures:
            more = f" (+{len(failures) - 5} more)" if len(failures) > 5 else ""
            raise DeliveryError("; ".join(failures[:5]) + more)

    def wait_connected(self, timeout_s: float) -> None:
        """Fetch cluster metadata once so a wrong bootstrap address fails early and clearly."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._producer.list_topics(timeout=max(0.5, deadline - time.monotonic()))
                return
            except KafkaException as exc:
                self._producer.poll(0)  # serve error_cb, so the diagnosis has librdkafka's reason
                if time.monotonic() >= deadline:
                    raise KafkaFatalError(
                        f"no broker answered within {timeout_s} s: {self.client_log.diagnosis()}"
                    ) from exc


def _too_large(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and err.code() == KafkaError.MSG_SIZE_TOO_LARGE


def brokers_up(stats: Mapping[str, Any]) -> bool:
    """Whether librdkafka's statistics show a real broker (not a logical or internal one) up."""
    brokers = stats.get("brokers") or {}
    return any(
        b.get("state") == "UP" for b in brokers.values() if b.get("source") not in ("logical", "internal")
    )
