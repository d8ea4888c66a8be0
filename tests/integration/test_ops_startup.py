"""Starting `rbc serve` against the real broker: a missing output topic it may not create stops
it before anything is consumed, a dead address gives a few actionable lines, and a topic
created after start that matches the pattern subscription is consumed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from confluent_kafka import KafkaException

from tests.integration.ops_support import ROOT, ServeProcess, create_topic, produce, unique, wait_for
from tests.integration.stream_helpers import committed, count
from tests.support.model_factory import write_tiny_model


def settled_count(bootstrap: str, topic: str) -> int:
    """Messages on `topic`; 0 while a topic the service just created has no leader yet."""
    try:
        return count(bootstrap, topic)
    except KafkaException:
        return 0


def _env(bootstrap: str, tmp_path: Path, input_topics: str, **more: str) -> dict[str, str]:
    return {
        "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "RBC_INPUT_TOPICS": input_topics,
        "RBC_GROUP_ID": unique("start-group"),
        "RBC_SCORED_TOPIC": unique("start-scored"),
        "RBC_LABELLING_TOPIC": unique("start-labelling"),
        "RBC_DEAD_LETTER_TOPIC": unique("start-dead"),
        "RBC_MODEL_PATH": str(write_tiny_model(tmp_path / "model.onnx")),
        "RBC_PROVIDER": "cpu",
        **more,
    }


def test_a_missing_output_topic_stops_the_start_before_anything_is_consumed(
    bootstrap: str, tmp_path: Path
) -> None:
    input_topic = unique("start-in")
    create_topic(bootstrap, input_topic)
    produce(bootstrap, input_topic, [b"Obj\x01 anything"])
    env = _env(bootstrap, tmp_path, input_topic, RBC_OUTPUT_TOPICS__CREATE="false")
    serve = ServeProcess(tmp_path / "serve.log", env)
    assert serve.proc.wait(120) == 2
    serve.stop()
    refused = [line for line in serve.log_path.read_text().splitlines() if "serve_refused" in line]
    assert (
        len(refused) == 1 and env["RBC_SCORED_TOPIC"] in refused[0] and "--output-topics-create" in refused[0]
    )
    assert all(offset < 0 for offset in committed(bootstrap, env["RBC_GROUP_ID"], input_topic).values())
    assert count(bootstrap, env["RBC_DEAD_LETTER_TOPIC"]) == 0


def test_a_broker_at_a_dead_address_gives_few_lines_and_librdkafka_s_reason(tmp_path: Path) -> None:
    env = _env("127.0.0.1:1", tmp_path, "anything")
    serve = ServeProcess(tmp_path / "serve.log", env)
    try:
        code = serve.proc.wait(60)
    finally:
        serve.stop()
    lines = serve.log_path.read_text().splitlines()
    assert code == 2
    assert len(lines) < 20, "\n".join(lines)
    [refused] = [line for line in lines if "serve_refused" in line]
    assert "Connection refused" in refused and "check kafka.bootstrap_servers" in refused


def test_a_topic_created_after_start_is_consumed_within_the_refresh_interval(
    bootstrap: str, tmp_path: Path, vendored_alerts: Path
) -> None:
    prefix = unique("late")
    env = _env(bootstrap, tmp_path, f"^{prefix}-.*", RBC_KAFKA__TOPIC_METADATA_REFRESH_INTERVAL_MS="2000")
    serve = ServeProcess(tmp_path / "serve.log", env)
    try:
        wait_for(lambda: "serve_starting" in serve.log() or not serve.alive(), 60, "serve started")
        late = f"{prefix}-night1"
        create_topic(bootstrap, late)
        alert = sorted(vendored_alerts.glob("alerce-pipeline__ztf__*.avro"))[0].read_bytes()
        produce(bootstrap, late, [alert])
        # librdkafka's own default would take 5 minutes to notice the new topic.
        wait_for(
            lambda: settled_count(bootstrap, env["RBC_SCORED_TOPIC"]) == 1 or not serve.alive(),
            60,
            "late topic",
        )
        assert serve.alive(), serve.log_path.read_text()
    finally:
        assert serve.stop() == 0, serve.log_path.read_text()


def test_config_show_masks_secrets_and_names_sources(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rbc1000.cli.main", "config", "show", "--topics", "a"],
        env={"RBC_KAFKA__SASL_PASSWORD": "hunter2", "RBC_GROUP_ID": "g", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert "hunter2" not in done.stdout
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()}
    assert rows["group_id"][1:] == ["g", "environment"]
    assert rows["input_topics"][-1] == "flag"
    assert rows["kafka.sasl_password"][1:] == ["***", "environment"]
    assert rows["batch_size"][-1] == "default"
