"""`rbc replay PATH... --topic T`: publish alert files into a Kafka topic at a chosen rate."""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from typing import Any

from rbc1000.ops.cli_flags import UsageError, add_settings_flags, given_flags
from rbc1000.ops.logging import setup_logging
from rbc1000.ops.settings import CONFIG_HELP, ReplaySettings, settings_or_error

log = logging.getLogger("rbc1000.stream.replay")

EPILOG = """\
examples:
  rbc replay ../shared/data/fink-broker/ztf_v4.02 --topic ztf_20240101_programid1 --rate 250
  rbc replay ../shared/data/lsst-real --topic lsst-alerts --framing confluent --schema-id 900
The broker comes from --bootstrap or RBC_KAFKA__BOOTSTRAP_SERVERS; SASL/TLS settings as for
`rbc serve` (--kafka-* flags, RBC_KAFKA__... variables or --config; secrets never as flags).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `rbc replay`: the paths, `--quiet`, and one flag per ReplaySettings field."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("paths", nargs="+", metavar="PATH", help="alert files, directories or tarballs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_settings_flags(parser, ReplaySettings, config_help=CONFIG_HELP)


def ensure_topic(client_config: dict[str, str], topic: str, partitions: int) -> None:
    """Create `topic` with `partitions` partitions unless it exists (replication factor 1)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(dict[str, Any](client_config))
    if topic in admin.list_topics(timeout=15).topics:
        return
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=30)
    log.info("topic_created topic=%s partitions=%d", topic, partitions)


def _framing_schema(settings: ReplaySettings) -> Any:
    """The parsed schema of `--schema-id` (None without one); an unknown id is a usage error."""
    from rbc1000.alerts.alert import DecodeError
    from rbc1000.stream.replay import framing_schema

    if settings.schema_id is None:
        return None
    try:
        return framing_schema(settings.schema_id, settings.schema_dir, settings.registry_url)
    except DecodeError as exc:
        raise UsageError(f"schema id {settings.schema_id}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Replay the files; prints one summary line."""
    settings = settings_or_error(ReplaySettings, given_flags(args, ReplaySettings), args.config)
    setup_logging(settings.log_level, settings.log_format)
    from tqdm import tqdm

    from rbc1000.stream.kafka_io import DeliveryError, KafkaProducer
    from rbc1000.stream.replay import iter_outgoing, replay

    schema = _framing_schema(settings)
    client = settings.kafka.client_config()
    if settings.partitions is not None:
        ensure_topic(client, settings.topic, settings.partitions)
    skipped: list[str] = []

    def skip(path: str, reason: str) -> None:
        skipped.append(path)
        log.warning("replay_skipped path=%s reason=%s", path, reason)

    rounds = (
        iter_outgoing(args.paths, settings.framing, settings.schema_id, schema, skip)
        for _ in range(settings.repeat)
    )
    producer = KafkaProducer(client)
    producer.wait_connected(30.0)
    with tqdm(desc=f"replay -> {settings.topic}", unit="msg", disable=args.quiet, file=sys.stderr) as bar:
        try:
            stats = replay(
                itertools.chain.from_iterable(rounds),
                producer,
                settings.topic,
                settings.rate_per_s,
                settings.flush_timeout_s,
                progress=bar.update,
            )
        except DeliveryError as exc:
            print(f"rbc replay: not every message was acknowledged: {exc}", file=sys.stderr)
            return 1
    print(
        f"replayed messages={stats.messages} acknowledged={stats.acknowledged} "
        f"skipped={len(skipped)} seconds={stats.seconds:.2f} rate_per_s={stats.rate_per_s:.1f} "
        f"topic={settings.topic}"
    )
    return 0 if stats.messages else 1
