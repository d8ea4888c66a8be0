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
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from rbc1000.alerts.framing import RecordFramer
from rbc1000.alerts.native import BatchDecoder, DecodePathError, make_batch_decoder
from rbc1000.alerts.registry_client import redact_url
from rbc1000.cli.model_flag import add_model_flag
from rbc1000.model.admission import AdmissionRules
from rbc1000.model.contract import ContractError
from rbc1000.model.decisions import LabellingLimiter
from rbc1000.model.providers import ProviderError
from rbc1000.model.scoring import Scorer
from rbc1000.model.set_reload import ModelSetWatcher, check_plan
from rbc1000.model.survey_models import ModelPlan, ModelSet, PlanError
from rbc1000.ops.cli_flags import add_settings_flags, given_flags
from rbc1000.ops.drift import DriftWindow
from rbc1000.ops.health import HealthServer, HealthState
from rbc1000.ops.logging import setup_logging
from rbc1000.ops.metrics import Metrics
from rbc1000.ops.settings import CONFIG_HELP, ServeSettings, settings_or_error
from rbc1000.stream.client_log import admin_client
from rbc1000.stream.kafka_io import KafkaConsumer, KafkaFatalError, KafkaProducer
from rbc1000.stream.loop import Collaborators, StopFlag, StreamProcessor
from rbc1000.stream.ports import MessageSink
from rbc1000.stream.records import SCHEMA_PATH, scored_framer
from rbc1000.stream.registration import RegistrationError, output_schema_ids
from rbc1000.stream.topics import TopicError, ensure_topics
from rbc1000.stream.transactions import Committer, TransactionalProducer, batch_delivery

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
    add_model_flag(parser)
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
        redact_url(settings.output_registry_url) if settings.output_registry_url else "none",
        settings.model_path,
        settings.kafka.redacted(),
    )
    scorer = load_models(settings)
    if scorer is None:
        return 2
    try:
        decoder = make_batch_decoder(
            settings.decode_path, settings.schema_dir, settings.registry_options(), settings.decode_limits
        )
    except DecodePathError as exc:
        log.error("decode_path_refused error=%s", exc)
        return 2
    log.info("model_in_use surveys=%s provider=%s", scorer.describe(), scorer.provider)
    metrics = Metrics(CollectorRegistry(), DriftWindow(settings.drift_window_alerts, settings.drift_window_s))
    metrics.set_model(scorer.info, scorer.provider, scorer.policy())
    health = HealthState(settings.stall_after_s, on_change=lambda ready: metrics.ready.set(1 if ready else 0))
    health.set_model_loaded(True)
    consumer = KafkaConsumer(
        settings.consumer_config(), settings.group_id, settings.auto_offset_reset, settings.commit_timeout_s
    )
    server = None
    if settings.metrics_port is not None:
        server = HealthServer(
            health,
            metrics.registry,
            settings.metrics_host,
            settings.metrics_port,
            settings.metrics_timeout_s,
            settings.metrics_threads,
        ).start()
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
    scorer: ModelSet,
    metrics: Metrics,
    health: HealthState,
) -> int:
    """Run the loop until SIGTERM/SIGINT (exit 0) or a failure (exit 1, nothing committed)."""
    try:
        framer, sink, committer = connect_outputs(settings, consumer)
    except (KafkaFatalError, TopicError, RegistrationError) as exc:
        log.error("serve_refused error=%s", exc)
        return 2
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop.set)
    signal.signal(signal.SIGINT, stop.set)
    parts = Collaborators(
        consumer,
        sink,
        decoder,
        scorer,
        watcher=model_watcher(settings, scorer, metrics),
        limiter=LabellingLimiter(
            settings.labelling_rate_per_s,
            settings.labelling_burst,
            random_share=settings.labelling_random_share,
        ),
        metrics=metrics,
        health=health,
        stop=stop,
        framer=framer,
        committer=committer,
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


def connect_outputs(
    settings: ServeSettings, consumer: KafkaConsumer
) -> tuple[RecordFramer, MessageSink, Committer]:
    """The producer (transactional under --exactly-once) once a broker answers, the output
    topics and schemas (`prepare_outputs`), and the loop's sink and committer."""
    producer_type = TransactionalProducer if settings.exactly_once else KafkaProducer
    producer = producer_type(settings.producer_config(), message_max_bytes=settings.message_max_bytes)
    producer.wait_connected(30.0)
    framer = prepare_outputs(settings)
    sink, committer = batch_delivery(producer, consumer, settings.commit_timeout_s, settings.flush_timeout_s)
    return framer, sink, committer


def model_plan(settings: ServeSettings) -> ModelPlan:
    """Which model file judges which surveys (`--model [SURVEY=]PATH`)."""
    return ModelPlan(settings.bare_model(), settings.survey_models)


def model_watcher(settings: ServeSettings, models: ModelSet, metrics: Metrics) -> ModelSetWatcher:
    """Hot reload of every model file of the plan, each through the gate and the canary."""
    return ModelSetWatcher(
        model_plan(settings),
        models,
        settings.provider,
        metrics=metrics,
        intra_op_threads=settings.intra_op_threads,
        io_binding=settings.io_binding,
        admit=admission_rules(settings),
    )


def admission_rules(settings: ServeSettings) -> AdmissionRules:
    """The gate and canary every model must pass before it serves, at start and at reload."""
    return AdmissionRules(settings.allow_ungated, settings.canary_min_auc, settings.canary_max_uncertain)


def load_models(settings: ServeSettings) -> ModelSet | None:
    """Every model of the plan loaded, checked and admitted, surveys assigned; None after one
    `model_refused` line when any of them may not serve."""
    rules = admission_rules(settings)
    loading: Path | str = "-"

    def load(path: Path) -> Scorer:
        nonlocal loading
        loading = path
        scorer = Scorer.load(path, settings.provider, settings.intra_op_threads, settings.io_binding)
        rules(scorer)
        return scorer

    try:
        return check_plan(model_plan(settings), load)
    except (ContractError, ProviderError, OSError, PlanError) as exc:
        log.error("model_refused path=%s error=%s", loading, exc)
        return None


def prepare_outputs(settings: ServeSettings) -> RecordFramer:
    """Check or create the output topics, register their schemas when framed for a registry.

    Runs before the consumer reads anything, so a topic or schema problem stops the start
    without a message consumed. Returns the framer of scored and labelling records.
    """
    topics = settings.output_topic_names()
    admin = admin_client(settings.kafka.client_config())
    created = ensure_topics(
        admin, topics, settings.output_topics, message_max_bytes=settings.message_max_bytes
    )
    if created:
        log.info("output_topics_created topics=%s", ",".join(created))
    ids = output_schema_ids(settings, dict.fromkeys(topics[:2], json.loads(SCHEMA_PATH.read_text())))
    return scored_framer("container") if ids is None else scored_framer("confluent", ids)
