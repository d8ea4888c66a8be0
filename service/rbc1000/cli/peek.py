"""`rbc peek`: print what the service published on a topic, for demos and debugging.

Scored and labelling topics hold scored records (schema `schemas/scored/`) in either output
framing: each is printed as one JSON line without the packet bytes, timestamps as ISO-8601
UTC with `Z` (as `rbc score` writes them). Any other message (dead letters keep the original
packet) is printed as its headers and size. With `--save-dir`, each message's value is also
written there as `<topic>-<partition>-<offset>.avro` (a dead letter's value is the original
alert packet). Reads from the beginning of every partition with a throwaway consumer group,
commits nothing, and stops after `--max` messages or `--timeout` seconds without a new one.
The broker settings (SASL/TLS, `RBC_KAFKA__*`, `--config`) are those of `rbc serve`; librdkafka's
errors go, de-duplicated, to the log on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError

from rbc1000.ops.cli_flags import add_settings_flags, given_flags
from rbc1000.ops.logging import setup_logging
from rbc1000.ops.settings import CONFIG_HELP, PeekSettings, settings_or_error
from rbc1000.stream.client_log import ClientLog, client_settings, make_client
from rbc1000.stream.records import decode_kafka, iso_utc

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `rbc peek`, one per PeekSettings field (Kafka settings as for `rbc serve`)."""
    add_settings_flags(parser, PeekSettings, config_help=CONFIG_HELP)


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
    return {
        k: iso_utc(int(v.timestamp() * 1000)) if isinstance(v, datetime) else v for k, v in record.items()
    }


def save(directory: Path, message: Any) -> None:
    """Write one message's value as `<topic>-<partition>-<offset>.avro` under `directory`."""
    name = f"{message.topic()}-{message.partition()}-{message.offset()}.avro"
    (directory / name).write_bytes(message.value() or b"")


def run(args: argparse.Namespace) -> int:
    """Print up to `max_messages` messages; exit 1 when there was none."""
    settings = settings_or_error(PeekSettings, given_flags(args, PeekSettings), args.config)
    setup_logging(settings.log_level, settings.log_format)
    if settings.save_dir is not None:
        settings.save_dir.mkdir(parents=True, exist_ok=True)
    config = client_settings(settings.kafka.client_config(), ClientLog("peek"))
    config.update(
        {"group.id": f"rbc-peek-{uuid.uuid4()}", "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    consumer: Consumer = make_client(Consumer, config)
    printed, deadline = 0, time.monotonic() + settings.timeout_s
    try:
        consumer.subscribe([settings.topic])
        while printed < settings.max_messages and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("peek_consumer_error error=%s", error)
                continue
            headers = message.headers()
            pairs = list(headers.items()) if isinstance(headers, dict) else headers
            print(json.dumps(describe(message.value(), pairs), default=str))
            if settings.save_dir is not None:
                save(settings.save_dir, message)
            printed += 1
            deadline = time.monotonic() + settings.timeout_s
    finally:
        consumer.close()
    return 0 if printed else 1
