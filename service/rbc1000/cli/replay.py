"""`rbc replay PATH... --topic T`: publish alert files into a Kafka topic at a chosen rate."""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from pathlib import Path
from typing import Any

from rbc1000.ops.settings import ReplaySettings, SettingsError, settings_or_error

log = logging.getLogger("rbc1000.stream.replay")

EPILOG = """\
examples:
  rbc replay ../shared/data/fink-broker/ztf_v4.02 --topic ztf_20240101_programid1 --rate 250
  rbc replay ../shared/data/lsst-real --topic lsst-alerts --framing confluent --schema-id 900
The broker comes from --bootstrap or RBC_KAFKA__BOOTSTRAP_SERVERS (SASL/TLS settings as for
`rbc serve`, from RBC_KAFKA__... variables or --config).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `rbc replay`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    add = parser.add_argument
    add("paths", nargs="+", metavar="PATH", help="alert files, directories or tarballs")
    add("--topic", help="topic to publish into (required unless RBC_TOPIC is set)")
    add("--rate", dest="rate_per_s", type=float, help="messages per second (0: as fast as possible)")
    add(
        "--framing",
        choices=["container", "confluent"],
        help="container: one file per message, bytes unchanged (ZTF); confluent: one record "
        "per message behind the 5-byte header (Rubin, WFST)",
    )
    add("--schema-id", type=int, help="schema id for --framing confluent (Rubin: major*100+minor)")
    add("--repeat", type=int, help="send the files this many times (benchmarks, soak tests)")
    add("--partitions", type=int, help="create the topic with N partitions if it is missing")
    add("--bootstrap", help="Kafka bootstrap servers, host:port[,host:port]")
    add("--config", type=Path, help="YAML settings file (also RBC_CONFIG_FILE)")
    add(
        "--kafka-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra librdkafka property, repeatable",
    )
    add("--quiet", action="store_true", help="no progress bar")


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    names = ("topic", "rate_per_s", "framing", "schema_id", "repeat", "partitions")
    flags: dict[str, Any] = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    kafka: dict[str, Any] = {}
    if args.bootstrap:
        kafka["bootstrap_servers"] = args.bootstrap
    if args.kafka_option:
        kafka["extra"] = dict(o.split("=", 1) for o in args.kafka_option if "=" in o)
    if kafka:
        flags["kafka"] = kafka
    return flags


def ensure_topic(client_config: dict[str, str], topic: str, partitions: int) -> None:
    """Create `topic` with `partitions` partitions unless it exists (replication factor 1)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(dict[str, Any](client_config))
    if topic in admin.list_topics(timeout=15).topics:
        return
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=30)
    log.info("topic_created topic=%s partitions=%d", topic, partitions)


def run(args: argparse.Namespace) -> int:
    """Replay the files; prints one summary line."""
    try:
        settings = settings_or_error(ReplaySettings, _flags(args), args.config)
    except SettingsError as exc:
        print(exc)
        return 2
    logging.basicConfig(level="INFO", format="%(asctime)s level=%(levelname)s %(message)s")
    from tqdm import tqdm

    from rbc1000.alerts.alert import DecodeError
    from rbc1000.stream.kafka_io import DeliveryError, KafkaProducer
    from rbc1000.stream.replay import framing_schema, iter_outgoing, replay

    client = settings.kafka.client_config()
    if settings.partitions is not None:
        ensure_topic(client, settings.topic, settings.partitions)
    skipped: list[str] = []

    def skip(path: str, reason: str) -> None:
        skipped.append(path)
        log.warning("replay_skipped path=%s reason=%s", path, reason)

    schema = None
    if settings.schema_id is not None:
        try:
            schema = framing_schema(settings.schema_id, settings.schema_dir, settings.registry_url)
        except DecodeError as exc:
            print(f"error: schema id {settings.schema_id}: {exc}")
            return 2
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
            print(f"error: not every message was acknowledged: {exc}")
            return 1
    print(
        f"replayed messages={stats.messages} acknowledged={stats.acknowledged} "
        f"skipped={len(skipped)} seconds={stats.seconds:.2f} rate_per_s={stats.rate_per_s:.1f} "
        f"topic={settings.topic}"
    )
    return 0 if stats.messages else 1
