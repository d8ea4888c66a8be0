"""`rbc peek`: print what the service published on a topic, for demos and debugging.

Scored and labelling topics hold Confluent-framed scored records (schema `schemas/scored/`):
each is printed as one JSON line without the packet bytes. Any other message (dead letters
keep the original packet) is printed as its headers and size. Reads from the beginning of
every partition with a throwaway consumer group, commits nothing, and stops after `--max`
messages or `--timeout` seconds without a new one.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError

from rbc1000.stream.records import decode_kafka


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", default="rbc.scored", help="topic to read (rbc.scored)")
    parser.add_argument(
        "--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers, host:port[,host:port]"
    )
    parser.add_argument("--max", type=int, default=20, help="messages to print at most (20)")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for another message before stopping (5)"
    )


def describe(value: bytes | None, headers: Sequence[tuple[str, Any]] | None) -> dict[str, Any]:
    """A scored record without its packet, or the headers and size of any other message."""
    try:
        record = decode_kafka(value or b"")
    except ValueError:
        return {
            "bytes": len(value or b""),
            "headers": {k: bytes(v or b"").decode(errors="replace") for k, v in headers or []},
        }
    record.pop("alert_packet", None)
    return record


def run(args: argparse.Namespace) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"rbc-peek-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    printed, deadline = 0, time.monotonic() + args.timeout
    try:
        consumer.subscribe([args.topic])
        while printed < args.max and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    print(json.dumps({"error": str(error)}))
                continue
            headers = message.headers()
            pairs = list(headers.items()) if isinstance(headers, dict) else headers
            print(json.dumps(describe(message.value(), pairs), default=str))
            printed += 1
            deadline = time.monotonic() + args.timeout
    finally:
        consumer.close()
    return 0 if printed else 1
