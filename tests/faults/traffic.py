"""Input for the fault cases: real alerts, topics that accept large messages, paced producing.

The producer here rides out a broker outage (idempotent, with a delivery timeout longer
than any case), so the input a case counts is exactly what it meant to send.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.ops_support import unique
from tests.integration.stream_setup import StreamTopics

VENDORED = Path(__file__).resolve().parents[1] / "data" / "alerts"
# Room for the largest hostile input (a 10 MB random message) and then some.
BIG_MESSAGE_BYTES = 64 << 20
DELIVERY_TIMEOUT_MS = 600_000


def good_alerts() -> list[bytes]:
    """The vendored real alerts that have all three cutouts (each must be scored)."""
    return [p.read_bytes() for p in sorted(VENDORED.glob("*.avro")) if "NO_CUTOUTS" not in p.name]


def create_topics(bootstrap: str, prefix: str, partitions: int) -> StreamTopics:
    """uuid-named topics of one case; the input accepts messages up to BIG_MESSAGE_BYTES, the
    outputs keep the broker's default limit, as an operator's existing topics would."""
    topics = StreamTopics(
        unique(f"{prefix}-in"),
        unique(f"{prefix}-scored"),
        unique(f"{prefix}-labelling"),
        unique(f"{prefix}-dead"),
        unique(f"{prefix}-group"),
    )
    big = {"max.message.bytes": str(BIG_MESSAGE_BYTES)}
    new = [NewTopic(topics.input, partitions, 1, config=big)]
    new += [NewTopic(t, 1, 1) for t in (topics.scored, topics.labelling, topics.dead)]
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive its futures
    for future in admin.create_topics(new).values():
        future.result(30)
    return topics


def producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "message.max.bytes": BIG_MESSAGE_BYTES,
            "message.timeout.ms": DELIVERY_TIMEOUT_MS,
        }
    )


def send(
    bootstrap: str, topic: str, values: list[bytes], rate_per_s: float = 0.0, partition: int = -1
) -> None:
    """Publish `values` in order (keyed by position), at `rate_per_s` if positive; waits for
    every acknowledgement and raises if any was refused."""
    out = producer(bootstrap)
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    started = time.monotonic()
    for i, value in enumerate(values):
        if rate_per_s > 0:
            time.sleep(max(0.0, started + i / rate_per_s - time.monotonic()))
        out.produce(topic, value, key=f"m{i}".encode(), partition=partition, on_delivery=on_delivery)
        out.poll(0)
    left = out.flush(DELIVERY_TIMEOUT_MS / 1000)
    assert not errors and left == 0, f"input not delivered: {errors[:3]}, {left} left"


def send_in_background(
    bootstrap: str, topic: str, values: list[bytes], rate_per_s: float
) -> threading.Thread:
    """`send` on a thread; join() it with a timeout and check is_alive()."""
    thread = threading.Thread(target=send, args=(bootstrap, topic, values, rate_per_s), daemon=True)
    thread.start()
    return thread
