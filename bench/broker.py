"""What the benchmarks that run against the local Kafka broker share (bench/stream.py, bench/scale.py)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from rbc1000.alerts.sources import Packet, iter_packets

ROOT = Path(__file__).resolve().parent.parent


def load_alerts(path: Path) -> list[bytes]:
    """Every alert packet under `path`; exits when there is none."""
    packets = [p.data for p in iter_packets([path]) if isinstance(p, Packet)]
    if not packets:
        raise SystemExit(f"no alert packets under {path}")
    return packets


def bootstrap_address(given: str | None) -> str:
    """`given`, else the address deploy/kafka/kafka.sh wrote; exits when there is no broker."""
    if given:
        return given
    path = Path(os.environ.get("RBC_KAFKA_WORK", ROOT / "deploy" / "kafka" / ".work")) / "bootstrap"
    if not path.exists():
        raise SystemExit("no broker: run deploy/kafka/kafka.sh start, or pass --bootstrap")
    return path.read_text().strip()


def wait_count(bootstrap: str, topic: str, expected: int, timeout_s: float) -> None:
    """Poll the high watermark (cheap: no records fetched) until `expected` records exist."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    deadline = time.monotonic() + timeout_s
    try:
        while consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1] < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"fewer than {expected} scored records after {timeout_s} s")
            time.sleep(0.2)
    finally:
        consumer.close()
