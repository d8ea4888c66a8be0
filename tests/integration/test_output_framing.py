"""What a downstream consumer meets: `rbc serve`'s scored topic read by examples/consume_scored.py
(plain confluent-kafka + fastavro, no project code) in each framing, and by confluent-kafka's own
`AvroDeserializer` in the registry framing; output topics created by the service through the
Admin API; dead letters carrying both header sets; the labels topic's schema registered.

The registry framing's tests use a real schema registry (Apicurio Registry, Confluent API)
started by deploy/registry/registry.sh: RBC_TEST_REGISTRY_URL=$(cat deploy/registry/.work/url).
Without it they are skipped on a workstation and fail under CI=true, as the broker's are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException

from rbc1000.label.publish import decode_label, encode_label, prepare_labels_framer
from rbc1000.label.settings import LabelSettings
from rbc1000.stream.records import decode_kafka
from rbc1000.stream.registration import RegistrationError, register_schema
from tests.integration.ops_support import ROOT, ServeProcess, create_topic, header, produce, unique, wait_for
from tests.integration.stream_helpers import count, read_all
from tests.support.model_factory import write_tiny_model

CORRUPT = b"Obj\x01 not a container"
LABEL: dict[str, Any] = {
    "alert_id": "3000000000000000001",
    "object_id": "ZTF26lab00001",
    "survey": "ztf",
    "label": "bogus",
    "labellers": ["alice"],
    "votes": 1,
    "consensus_n": 1,
    "labelled_at": 1_780_000_000_000,
    "selection_reason": "uncertain",
    "p_real": 0.5,
    "model_name": "rbc1000",
    "model_version": "1.0",
    "survey_score": None,
    "survey_score_name": None,
}


def settled_count(bootstrap: str, topic: str) -> int:
    """Messages on `topic`; 0 while a topic the service just created has no leader yet."""
    try:
        return count(bootstrap, topic)
    except KafkaException:
        return 0


def _serve_and_read(
    bootstrap: str, tmp_path: Path, alerts: list[bytes], env: dict[str, str]
) -> tuple[str, str]:
    """Serve `alerts` plus one corrupt message into fresh output topics; (scored, dead) topics."""
    input_topic, scored, dead = unique("out-in"), unique("out-scored"), unique("out-dead")
    create_topic(bootstrap, input_topic)
    produce(bootstrap, input_topic, [*alerts, CORRUPT])
    serve = ServeProcess(
        tmp_path / "serve.log",
        {
            "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "RBC_INPUT_TOPICS": input_topic,
            "RBC_GROUP_ID": unique("out-group"),
            "RBC_SCORED_TOPIC": scored,
            "RBC_LABELLING_TOPIC": unique("out-labelling"),
            "RBC_DEAD_LETTER_TOPIC": dead,
            "RBC_MODEL_PATH": str(write_tiny_model(tmp_path / "model.onnx")),
            "RBC_PROVIDER": "cpu",
            **env,
        },
    )
    try:
        wait_for(
            lambda: settled_count(bootstrap, scored) >= len(alerts) or not serve.alive(),
            120,
            "scored records",
        )
        assert serve.alive(), serve.log_path.read_text()
    finally:
        assert serve.stop() == 0, serve.log_path.read_text()
    assert "output_topics_created" in serve.log_path.read_text()
    return scored, dead


def _example(*args: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "consume_scored.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def _alerts(vendored_alerts: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(vendored_alerts.glob("alerce-pipeline__ztf__*.avro"))[:4]]


def test_the_example_reads_every_record_of_the_default_container_framing(
    bootstrap: str, tmp_path: Path, vendored_alerts: Path
) -> None:
    alerts = _alerts(vendored_alerts)
    scored, dead = _serve_and_read(bootstrap, tmp_path, alerts, {})
    messages = read_all(bootstrap, scored)
    assert all(m.value().startswith(b"Obj\x01") for m in messages)
    records = _example("container", bootstrap, scored)
    assert len(records) == len(messages) == len(alerts)
    assert {r["alert_id"] for r in records} == {decode_kafka(m.value())["alert_id"] for m in messages}
    [letter] = read_all(bootstrap, dead)
    assert letter.value() == CORRUPT
    message = header(letter, "__connect.errors.exception.message") or ""
    assert header(letter, "rbc.error.reason") == message.split(":")[0]
    assert (
        header(letter, "__connect.errors.offset") == header(letter, "rbc.source.offset") == str(len(alerts))
    )
    assert header(letter, "__connect.errors.topic") == header(letter, "rbc.source.topic")


def _registry_client(url: str) -> Any:
    """confluent-kafka's own SchemaRegistryClient: a consumer that is not this project."""
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient
    except ImportError as exc:
        message = f"confluent-kafka's schema registry client needs confluent-kafka[schemaregistry]: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SchemaRegistryClient({"url": url})


def _deserialize(client: Any, topic: str, value: bytes) -> Any:
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    return AvroDeserializer(client)(value, SerializationContext(topic, MessageField.VALUE))


@pytest.fixture(scope="module")
def registry_scored(
    bootstrap: str, registry: str, tmp_path_factory: pytest.TempPathFactory, vendored_alerts: Path
) -> tuple[str, list[Any], int]:
    """`rbc serve --output-framing confluent` run once: (scored topic, its messages, alerts)."""
    alerts = _alerts(vendored_alerts)
    env = {"RBC_OUTPUT_FRAMING": "confluent", "RBC_OUTPUT_REGISTRY_URL": registry}
    scored, _ = _serve_and_read(bootstrap, tmp_path_factory.mktemp("registry"), alerts, env)
    return scored, read_all(bootstrap, scored), len(alerts)


def test_the_example_reads_every_record_of_the_registry_framing(
    bootstrap: str, registry: str, registry_scored: tuple[str, list[Any], int]
) -> None:
    scored, messages, n_alerts = registry_scored
    assert all(m.value()[0] == 0 for m in messages)
    records = _example("confluent", bootstrap, scored, registry)
    assert len(records) == n_alerts
    assert {r["alert_id"] for r in records} == {decode_kafka(m.value())["alert_id"] for m in messages}


def test_confluent_kafkas_own_deserializer_reads_the_scored_topic(
    registry: str, registry_scored: tuple[str, list[Any], int]
) -> None:
    # The user story: AvroDeserializer answered `Schema Not Found (40400)` while the
    # service framed with a fixed id; now the ids are those the registry gave `<topic>-value`.
    scored, messages, n_alerts = registry_scored
    client = _registry_client(registry)
    latest = client.get_latest_version(f"{scored}-value")
    assert {int.from_bytes(m.value()[1:5], "big") for m in messages} == {latest.schema_id}
    records = [_deserialize(client, scored, m.value()) for m in messages]
    assert len(records) == n_alerts
    assert [r["alert_id"] for r in records] == [decode_kafka(m.value())["alert_id"] for m in messages]


def test_the_labels_topic_registers_its_schema_and_reads_with_confluent_kafka(
    registry: str, tmp_path: Path
) -> None:
    topic = unique("out-labels")
    settings = LabelSettings(
        database_url=f"sqlite:///{tmp_path / 'label.sqlite'}",
        labels_topic=topic,
        output_framing="confluent",
        output_registry_url=registry,
    )
    framer = prepare_labels_framer(settings)
    value = encode_label(LABEL, framer, topic)
    client = _registry_client(registry)
    assert int.from_bytes(value[1:5], "big") == client.get_latest_version(f"{topic}-value").schema_id
    record = _deserialize(client, topic, value)
    assert (record["alert_id"], record["labellers"]) == (LABEL["alert_id"], LABEL["labellers"])
    assert decode_label(value, schema_ids=set(framer.schema_ids.values()))["label"] == "bogus"


def test_an_incompatible_schema_is_refused_before_anything_is_registered(registry: str) -> None:
    topic = unique("out-evolve")
    fields: list[dict[str, Any]] = [{"name": "alert_id", "type": "string"}]
    schema = {"type": "record", "name": "Evolving", "namespace": "rbc.test", "fields": fields}
    first = register_schema(registry, topic, schema)
    added = [*fields, {"name": "p_real", "type": "float", "default": 0.0}]
    assert register_schema(registry, topic, {**schema, "fields": added}) != first  # a default: compatible
    retyped = [{"name": "alert_id", "type": "long"}, added[1]]
    with pytest.raises(RegistrationError, match="not compatible"):
        register_schema(registry, topic, {**schema, "fields": retyped})
    with urllib.request.urlopen(f"{registry}/subjects/{topic}-value/versions") as response:
        assert len(json.load(response)) == 2
