"""The project's thin wrapper around confluent-kafka: frozen message records, a consumer that
commits only explicit offsets, and an idempotent producer whose delivery errors surface on
the main thread.

The run loop (`rbc1000.stream.loop`) sees only the `MessageSource` and `MessageSink` protocols
below, so its batching, routing and offset bookkeeping are unit-tested with in-memory fakes;
the integration tests drive these real classes against a broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from rbc1000.stream.client_log import ClientLog, client_settings, make_client

log = logging.getLogger(__name__)

Headers = tuple[tuple[str, bytes], ...]


class Partition(NamedTuple):
    """One input partition: (topic, partition number)."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Message:
    """One consumed Kafka message. `timestamp_ms` is the broker's or producer's timestamp."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int | None = None

    @property
    def source(self) -> Partition:
        return Partition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """One message to produce."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Headers = ()


class KafkaFatalError(RuntimeError):
    """The client hit an error it cannot recover from (for example a fenced idempotent producer)."""


class DeliveryError(RuntimeError):
    """At least one produced message was not acknowledged by the broker."""


class RebalanceListener(Protocol):
    """Called on the consuming thread when the group hands partitions over."""

    def on_assign(self, partitions: list[Partition]) -> None: ...

    def on_revoke(self, partitions: list[Partition]) -> None: ...

    def on_lost(self, partitions: list[Partition]) -> None: ...


class MessageSource(Protocol):
    """What the run loop needs from a consumer."""

    @property
    def connected(self) -> bool:
        """False while no broker answers."""
        ...

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener) -> None: ...

    def consume(self, max_messages: int, timeout_s: float) -> list[Message]: ...

    def commit(self, offsets: Mapping[Partition, int]) -> list[Partition]: ...

    def lag(self) -> dict[Partition, int]: ...

    def close(self) -> None: ...


class MessageSink(Protocol):
    """What the run loop needs from a producer."""

    def produce(self, record: OutputRecord, on_delivered: Callable[[], None]) -> None: ...

    def poll(self) -> None: ...

    def flush(self, timeout_s: float) -> None: ...


def _rebalance_hook(callback: Callable[[list[Partition]], None]) -> Callable[[Any, Any], None]:
    def hook(_consumer: Any, partitions: list[TopicPartition]) -> None:
        callback([Partition(tp.topic, tp.partition) for tp in partitions])

    return hook


def _message(m: Any) -> Message:
    """A frozen `Message` from a confluent-kafka message without error."""
    _, ts = m.timestamp()
    headers = tuple(
        (str(k), v if isinstance(v, bytes) else (v or "").encode()) for k, v in (m.headers() or ())
    )
    return Message(
        str(m.topic()),
        int(m.partition()),
        int(m.offset()),
        m.key(),
        m.value(),
        headers,
        ts if ts > 0 else None,
    )


class KafkaConsumer:
    """A consumer in a group that commits only the offsets the caller names.

    Automatic commit and automatic offset storing are off: a background commit would mark
    messages done whose outputs the producer has not yet delivered, which breaks at-least-once.
    """

    def __init__(
        self, client_config: Mapping[str, str], group_id: str, auto_offset_reset: str = "earliest"
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
            }
        )
        self._consumer: Consumer = make_client(Consumer, config)
        self._connected = False
        self._next_probe = 0.0
        self.assigned: set[Partition] = set()

    def _on_error(self, err: KafkaError) -> None:
        # Runs inside librdkafka's poll: record and log only, never raise.
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._connected = False
        self.client_log.on_error(err)

    @property
    def connected(self) -> bool:
        """Whether a broker answers; while it does not, re-probed at most every 2 s."""
        if not self._connected and time.monotonic() >= self._next_probe:
            self._next_probe = time.monotonic() + 2.0
            try:
                self._consumer.list_topics(timeout=0.5)
                self._connected = True
            except KafkaException:
                pass
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
            self._connected = True
            out.append(_message(m))
        return out

    def commit(self, offsets: Mapping[Partition, int]) -> list[Partition]:
        """Synchronously commit the next offset to read per partition; returns those that failed.

        A failed commit (for instance during a rebalance) is not fatal to at-least-once: the
        partition's next owner re-reads from the last committed offset.
        """
        if not offsets:
            return []
        tps = [TopicPartition(p.topic, p.partition, o) for p, o in offsets.items()]
        try:
            result = self._consumer.commit(offsets=tps, asynchronous=False) or []
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

    def close(self) -> None:
        """Leave the group. Commits nothing: whatever was not committed is read again."""
        self._consumer.close()


class KafkaProducer:
    """An idempotent producer (acks=all, no reordering or duplicates on retry).

    librdkafka calls the delivery callback from `poll`/`flush` on this thread; the callback
    never raises: it records failures, and `flush` raises them as one `DeliveryError`.
    """

    def __init__(self, client_config: Mapping[str, str], linger_ms: int = 5) -> None:
        self.client_log = ClientLog("producer")
        config = client_settings(client_config, self.client_log)
        config.setdefault("linger.ms", linger_ms)
        config.update({"enable.idempotence": True, "acks": "all", "error_cb": self._on_error})
        self._producer: Producer = make_client(Producer, config)
        self._failures: list[str] = []
        self.delivered = 0

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._failures.append(f"fatal producer error {err.name()}: {err.str()}")
        self.client_log.on_error(err)

    def produce(self, record: OutputRecord, on_delivered: Callable[[], None]) -> None:
        """Queue one record; `on_delivered` runs once the broker has acknowledged it."""

        def callback(err: KafkaError | None, _msg: Any) -> None:
            try:
                if err is not None:
                    self._failures.append(f"{record.topic}: {err.name()} {err.str()}")
                    return
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

    def poll(self) -> None:
        """Serve delivery callbacks that are ready, without waiting."""
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        """Wait for every queued record; raise DeliveryError if any failed or is still queued."""
        remaining = self._producer.flush(timeout_s)
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
