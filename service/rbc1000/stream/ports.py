"""What the run loop sees of Kafka: the consumer and producer protocols and the rebalance
listener. `rbc1000.stream.kafka_io` implements them over confluent-kafka; the unit tests over
in-memory fakes (tests/support/kafka_fakes.py), so the loop is tested without a broker."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from rbc1000.stream.messages import Message, OutputRecord, Partition


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

    def pause(self) -> None:
        """Stop fetching the assigned partitions; `consume` then only serves the group."""
        ...

    def resume(self) -> None: ...

    def lag(self) -> dict[Partition, int]: ...

    def close(self) -> None: ...


class MessageSink(Protocol):
    """What the run loop needs from a producer."""

    def produce(self, record: OutputRecord, on_delivered: Callable[[], None]) -> None: ...

    def poll(self) -> None: ...

    def flush(self, timeout_s: float) -> None: ...
