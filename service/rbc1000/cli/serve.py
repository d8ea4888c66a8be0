"""`rbc serve`: consume alerts from Kafka, score them with the ONNX model and publish the results.

Settings come from flags, `RBC_...` environment variables and a YAML config file
(`rbc1000.ops.settings.ServeSettings`); secrets (SASL password, TLS key password) only from the
environment or the file. SIGTERM or Ctrl-C: the batch in hand is finished, flushed and
committed, then the process exits 0 (a second signal: exit 130 at once). A failure exits 1
without committing unfinished work; an unusable model or settings exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
from typing import Any

from prometheus_client import CollectorRegistry

from rbc1000.alerts.framing import RecordFramer
from rbc1000.alerts.native import BatchDecoder, DecodePathError, make_batch_decoder
from rbc1000.model.contract import ContractError
from rbc1000.model.decisions import LabellingLimiter
from rbc1000.model.providers import ProviderError
from rbc1000.model.scoring import ModelWatcher, Scorer
from rbc1000.ops.cli_flags import add_settings_flags, given_flags
from rbc1000.ops.health import HealthServer, HealthState
from rbc1000.ops.logging import setup_logging
from rbc1000.ops.metrics import Metrics
from rbc1000.ops.settings import CONFIG_HELP, ServeSettings, settings_or_error
from rbc1000.stream.client_log import admin_client
from rbc1000.stream.kafka_io import KafkaConsumer, KafkaFatalError, KafkaProducer
from rbc1000.stream.loop import Collaborators, StopFlag, StreamProcessor
from rbc1000.stream.records import SCHEMA_PATH, scored_framer
from rbc1000.stream.registration import RegistrationError, output_schema_ids
from rbc1000.stream.topics import TopicError, ensure_topics

log = logging.getLogger("rbc1000.serve")

EPILOG = """\
environment: every setting also reads RBC_<NAME> (nested: RBC_KAFKA__<NAME>), e.g.
  RBC_INPUT_TOPICS='^ztf_[0-9]{8}_programid1$'  RBC_KAFKA__BOOTSTRAP_SERVERS=host:9093
  RBC_KAFKA__SECURITY_PROTOCOL=SASL_SSL  RBC_KAFKA__SASL_MECHANISM=SCRAM-SHA-512
  RBC_KAFKA__SASL_USERNAME=me  RBC_KAFKA__SASL_PASSWORD=...  RBC_KAFKA__SSL_CA_LOCATION=ca.pem
precedence: flags > environment > --config file (YAML with the same names) > defaults.
outputs: scored records (Avro, schemas/scored/; one Avro container per message, or Confluent
framing with registry ids) to the scored topic, uncertain alerts also to the labelling topic
(rate-capped), undecodable or unscorable messages to the dead-letter topic (original bytes,
reason in rbc.error.* and __connect.errors.* headers). Output topics are created at start
unless --no-output-topics-create. See deploy/kafka/README.md.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `rbc serve`, one per ServeSettings field; each optional when the environment or
    file has it."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    add_settings_flags(parser, ServeSettings, config_help=CONFIG_HELP)


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    """Only the flags actually given, shaped like ServeSettings."""
    return given_flags(args, ServeSettings)


def run(args: argparse.Namespace) -> int:
    """Build the settings, load the model, connect and serve until SIGTERM."""
    settings = settings_or_error(ServeSettings, _flags(args), args.config)
    setup_logging(settings.log_level, settings.log_format)
    return serve(settings)


def serve(settings: ServeSettings) -> int:
    """Load and check the model, connect to Kafka, run the stream loop; the exit code."""
    log.info(
        "serve_starting topics=%s group=%s scored_topic=%s labelling_topic=%s dead_letter_topic=%s "
        "framing=%s registry=%s model=%s kafka=%s",
        ",".join(settings.input_topics),
        settings.group_id,
        settings.scored_topic,
        settings.labelling_topic,
        settings.dead_letter_topic,
        settings.output_framing,
        settings.output_registry_url or "none",
        settings.model_path,
        settings.kafka.redacted(),
    )
    try:
        scorer = Scorer.load(
            settings.model_path, settings.provider, settings.intra_op_threads, settings.io_binding
        )
    except (ContractError, ProviderError, OSError) as exc:
        log.error("model_refused path=%s error=%s", settings.model_path, exc)
        return 2
    try:
        decoder = make_batch_decoder(settings.decode_path, settings.schema_dir, settings.registry_url)
    except DecodePathError as exc:
        log.error("decode_path_refused error=%s", exc)
        return 2
    log.info(
        "model_in_use name=%s version=%s provider=%s", scorer.info.name, scorer.info.version, scorer.provider
    )
    metrics = Metrics(CollectorRegistry())
    metrics.set_model(scorer.info, scorer.provider)
    health = HealthState(on_change=lambda ready: metrics.ready.set(1 if ready else 0))
    health.set_model_loaded(True)
    consumer = KafkaConsumer(settings.kafka.client_config(), settings.group_id, settings.auto_offset_reset)
    server = None
    if settings.metrics_port is not None:
        server = HealthServer(health, metrics.registry, settings.metrics_host, settings.metrics_port).start()
    try:
        return _serve(settings, consumer, decoder, scorer, metrics, health)
    finally:
        try:
            consumer.close()  # leaves the group; its revocation commits only acknowledged work
        except Exception as exc:  # e.g. the broker is gone and the revocation flush failed
            log.error("consumer_close_failed error=%s committed=finished_work_only", exc)
        if server is not None:
            server.stop()


def _serve(
    settings: ServeSettings,
    consumer: KafkaConsumer,
    decoder: BatchDecoder,
    scorer: Scorer,
    metrics: Metrics,
    health: HealthState,
) -> int:
    """Run the loop until SIGTERM/SIGINT (exit 0) or a failure (exit 1, nothing committed)."""
    producer = KafkaProducer(settings.kafka.client_config())
    try:
        producer.wait_connected(30.0)
        framer = prepare_outputs(settings)
    except (KafkaFatalError, TopicError, RegistrationError) as exc:
        log.error("serve_refused error=%s", exc)
        return 2
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop.set)
    signal.signal(signal.SIGINT, stop.set)
    watcher = ModelWatcher(
        settings.model_path,
        settings.provider,
        current=scorer,
        metrics=metrics,
        intra_op_threads=settings.intra_op_threads,
        io_binding=settings.io_binding,
    )
    parts = Collaborators(
        consumer,
        producer,
        decoder,
        scorer,
        watcher=watcher,
        limiter=LabellingLimiter(settings.labelling_rate_per_s, settings.labelling_burst),
        metrics=metrics,
        health=health,
        stop=stop,
        framer=framer,
    )
    processor = StreamProcessor(settings, parts)
    try:
        processor.run()
        return 0
    except KeyboardInterrupt:
        log.warning("serve_interrupted committed=finished_work_only")
        return 130
    except KafkaFatalError as exc:
        log.error("serve_failed error=%s committed=finished_work_only", exc)
        return 1
    except Exception:
        log.exception("serve_failed committed=finished_work_only")
        return 1


def prepare_outputs(settings: ServeSettings) -> RecordFramer:
    """Check or create the output topics, register their schemas when framed for a registry.

    Runs before the consumer reads anything, so a topic or schema problem stops the start
    without a message consumed. Returns the framer of scored and labelling records.
    """
    topics = settings.output_topic_names()
    created = ensure_topics(admin_client(settings.kafka.client_config()), topics, settings.output_topics)
    if created:
        log.info("output_topics_created topics=%s", ",".join(created))
    ids = output_schema_ids(settings, dict.fromkeys(topics[:2], json.loads(SCHEMA_PATH.read_text())))
    return scored_framer("container") if ids is None else scored_framer("confluent", ids)
