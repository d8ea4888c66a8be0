"""Settings of `rbc serve` / `rbc replay`: precedence, mechanical librdkafka mapping, secrets
that never show, and cross-field rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from rbc1000.cli.serve import _flags, configure
from rbc1000.ops.kafka_settings import KafkaSettings
from rbc1000.ops.settings import (
    ReplaySettings,
    ServeSettings,
    describe_errors,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RBC_"):
            monkeypatch.delenv(name)


def test_flags_beat_environment_beat_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text(
        "input_topics: [from-file]\nbatch_size: 11\ngroup_id: file-group\n"
        "kafka:\n  bootstrap_servers: file:9092\n  client_id: file-client\n"
    )
    monkeypatch.setenv("RBC_BATCH_SIZE", "22")
    monkeypatch.setenv("RBC_KAFKA__BOOTSTRAP_SERVERS", "env:9092")
    settings = load_settings(ServeSettings, {"batch_size": 33}, config)
    assert settings.batch_size == 33
    assert settings.kafka.bootstrap_servers == "env:9092"
    assert settings.kafka.client_id == "file-client"  # nested values merge, not replace
    assert settings.group_id == "file-group"
    assert settings.input_topics == ["from-file"]


def test_topics_from_comma_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBC_INPUT_TOPICS", "a, ^ztf_[0-9]{8}_programid1$")
    assert load_settings(ServeSettings, {}).input_topics == ["a", "^ztf_[0-9]{8}_programid1$"]
    monkeypatch.setenv("RBC_INPUT_TOPICS", '["x", "y"]')
    assert load_settings(ServeSettings, {}).input_topics == ["x", "y"]


def test_kafka_options_map_mechanically_and_secrets_stay_hidden() -> None:
    kafka = KafkaSettings(
        bootstrap_servers="b:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="me",
        sasl_password=SecretStr("hunter2"),
        ssl_ca_location="/ca.pem",
        extra={"fetch.max.bytes": "1000000"},
    )
    assert kafka.client_config() == {
        "bootstrap.servers": "b:9093",
        "client.id": "rbc",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "me",
        "sasl.password": "hunter2",
        "ssl.ca.location": "/ca.pem",
        "topic.metadata.refresh.interval.ms": "10000",
        "fetch.max.bytes": "1000000",
    }
    assert kafka.redacted()["sasl.password"] == "***"
    assert "hunter2" not in repr(kafka) and "hunter2" not in str(kafka.redacted())


def test_sasl_needs_credentials_and_errors_do_not_echo_secrets() -> None:
    with pytest.raises(ValidationError) as info:
        load_settings(
            ServeSettings,
            {
                "input_topics": ["in"],
                "kafka": {"security_protocol": "SASL_SSL", "sasl_password": "topsecret"},
            },
        )
    text = describe_errors(info.value)
    assert "sasl_mechanism" in text and "sasl_username" in text
    assert "topsecret" not in text


@pytest.mark.parametrize(
    "flags, message",
    [
        ({}, "no input topics"),
        ({"input_topics": ["in"], "labelling_topic": "rbc.scored"}, "must differ"),
        ({"input_topics": ["^rbc"]}, "would consume the output topic"),
        ({"input_topics": ["in"], "kafka": {"extra": {"enable.auto.commit": "true"}}}, "may not set"),
        ({"input_topics": ["in"], "provider": "tpu"}, "provider"),
        ({"input_topics": ["in"], "batch_size": 0}, "batch_size"),
    ],
)
def test_invalid_settings_are_refused(flags: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_settings(ServeSettings, flags)
    assert message in describe_errors(info.value)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_settings(ServeSettings, {"input_topics": ["in"]}, tmp_path / "nope.yaml")


def test_serve_flags_become_settings() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(
        [
            "--topics",
            "a,b",
            "--bootstrap",
            "h:1",
            "--batch-size",
            "64",
            "--no-packet",
            "--kafka-option",
            "fetch.wait.max.ms=50",
        ]
    )
    settings = load_settings(ServeSettings, _flags(args))
    assert settings.input_topics == ["a", "b"]
    assert settings.kafka.client_config()["bootstrap.servers"] == "h:1"
    assert settings.kafka.client_config()["fetch.wait.max.ms"] == "50"
    assert settings.batch_size == 64 and settings.include_packet is False
    assert settings.group_id == "rbc-scorer"  # untouched defaults stay


def test_replay_confluent_framing_needs_schema_id() -> None:
    with pytest.raises(ValidationError, match="schema-id"):
        load_settings(ReplaySettings, {"topic": "t", "framing": "confluent"})
    settings = load_settings(ReplaySettings, {"topic": "t", "framing": "confluent", "schema_id": 900})
    assert settings.schema_id == 900


def test_topics_flag_takes_repeated_or_comma_separated_names_and_keeps_regex_commas() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(["--topics", "a,b", "c", "^ztf_[0-9]{6,8}$"])
    assert load_settings(ServeSettings, _flags(args)).input_topics == ["a", "b", "c", "^ztf_[0-9]{6,8}$"]


def test_peek_and_replay_read_the_kafka_settings_of_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    from rbc1000.ops.settings import PeekSettings

    monkeypatch.setenv("RBC_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("RBC_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("RBC_KAFKA__SASL_USERNAME", "me")
    monkeypatch.setenv("RBC_KAFKA__SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("RBC_INPUT_TOPICS", "in")  # a serve setting: replay and peek ignore it
    for settings in (load_settings(PeekSettings, {}), load_settings(ReplaySettings, {"topic": "t"})):
        config = settings.kafka.client_config()
        assert config["sasl.password"] == "hunter2" and config["security.protocol"] == "SASL_SSL"


def test_score_settings_share_serve_names_with_their_own_thread_default() -> None:
    from rbc1000.ops.settings import ScoreSettings

    shared = {"model_path", "provider", "intra_op_threads", "batch_size", "include_packet"}
    assert shared <= set(ScoreSettings.model_fields) & set(ServeSettings.model_fields)
    assert (
        ScoreSettings().intra_op_threads == 0
        and load_settings(ServeSettings, {"input_topics": ["a"]}).intra_op_threads == 1
    )
