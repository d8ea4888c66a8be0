"""The flag generator: help from the model, only given flags back, nested Kafka, no secret flags."""

from __future__ import annotations

import argparse
import json

import pytest
from pydantic import BaseModel, Field, SecretStr

from rbc1000.ops.cli_flags import add_settings_flags, flag_name, given_flags
from rbc1000.ops.kafka_settings import SECRET_KAFKA_KEYS, KafkaSettings, masked
from rbc1000.ops.settings import PeekSettings, ServeSettings, load_settings


class Inner(BaseModel):
    host: str = Field(default="h:1", description="where the thing is")
    token: SecretStr | None = None
    extra: dict[str, str] = Field(default_factory=dict, description="anything else")


class Outer(BaseModel):
    kafka: Inner = Field(default_factory=Inner)
    wait_s: float = Field(default=0.5, description="seconds to wait")
    name: str = Field(default="n0", description="what to call it")
    loud: bool = Field(default=True, description="say it aloud")
    items: list[str] = Field(default_factory=list, description="some items")


def _parser(model: type[BaseModel]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t")
    add_settings_flags(parser, model)
    return parser


def _help_text(parser: argparse.ArgumentParser) -> str:
    return " ".join(parser.format_help().split())  # argparse wraps lines; compare words


def test_help_shows_description_default_and_environment_from_the_model() -> None:
    text = _help_text(_parser(ServeSettings))
    assert "consumer group id (default: rbc-scorer; env RBC_GROUP_ID)" in text
    assert "(default: 256; env RBC_BATCH_SIZE)" in text
    assert "env RBC_KAFKA__SASL_USERNAME" in text
    plain = _help_text(_parser(Outer))
    assert "seconds to wait (default: 0.5)" in plain and "env" not in plain.split("default: 0.5")[1][:5]


def test_secrets_get_no_flag_and_the_help_says_where_they_come_from() -> None:
    parser = _parser(ServeSettings)
    options = set(parser._option_string_actions)
    assert not any("password" in o for o in options)
    assert "--kafka-sasl-username" in options and "--kafka-ssl-ca-location" in options
    text = _help_text(parser)
    assert "RBC_KAFKA__SASL_PASSWORD" in text and "RBC_KAFKA__SSL_KEY_PASSWORD" in text
    assert "no flag" in text
    assert not any("token" in o for o in _parser(Outer)._option_string_actions)


def test_only_the_flags_given_come_back_nested_like_the_model() -> None:
    parser = _parser(Outer)
    assert given_flags(parser.parse_args([]), Outer) == {}
    args = parser.parse_args(
        [
            "--wait",
            "2",
            "--no-loud",
            "--kafka-host",
            "x:9",
            "--kafka-option",
            "a.b=1",
            "--kafka-option",
            "c==",
        ]
    )
    assert given_flags(args, Outer) == {
        "kafka": {"host": "x:9", "extra": {"a.b": "1", "c": "="}},
        "wait_s": 2.0,
        "loud": False,
    }


def test_nested_kafka_flags_reach_the_client_config() -> None:
    parser = _parser(PeekSettings)
    args = parser.parse_args(
        [
            "--bootstrap",
            "b:9093",
            "--kafka-security-protocol",
            "SSL",
            "--kafka-ssl-ca-location",
            "/ca.pem",
            "--kafka-option",
            "fetch.wait.max.ms=50",
            "--max",
            "3",
        ]
    )
    settings = load_settings(PeekSettings, given_flags(args, PeekSettings))
    assert settings.max_messages == 3 and settings.topic == "rbc.scored"
    assert settings.kafka.client_config() == {
        **KafkaSettings().client_config(),
        "bootstrap.servers": "b:9093",
        "security.protocol": "SSL",
        "ssl.ca.location": "/ca.pem",
        "fetch.wait.max.ms": "50",
    }


@pytest.mark.parametrize(
    "path, flag",
    [
        ("batch_max_wait_s", "batch-max-wait"),
        ("labelling_rate_per_s", "labelling-rate"),
        ("intra_op_threads", "intra-op-threads"),
        ("model_path", "model"),
        ("kafka.bootstrap_servers", "bootstrap"),
        ("kafka.sasl_username", "kafka-sasl-username"),
        ("kafka.extra", "kafka-option"),
    ],
)
def test_flag_names_are_mechanical_but_for_the_short_names(path: str, flag: str) -> None:
    assert flag_name(path) == flag


def test_malformed_key_value_is_a_usage_error() -> None:
    parser = _parser(ServeSettings)
    parser.exit_on_error = False
    with pytest.raises(argparse.ArgumentError, match="KEY=VALUE"):
        parser.parse_args(["--kafka-option", "no-equals-sign"])


def _rbc(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from rbc1000.cli.main import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("key", sorted(SECRET_KAFKA_KEYS))
def test_secret_kafka_options_are_refused_on_the_command_line(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _rbc(["serve", "--topics", "in", "--kafka-option", f"{key}=hunter2"], capsys)
    field = SECRET_KAFKA_KEYS[key]
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"RBC_KAFKA__{field.upper()}" in err and f"kafka.{field}" in err and "--config" in err
    assert "hunter2" not in err


@pytest.mark.parametrize("flag", ["--registry-url", "--output-registry-url", "--bootstrap"])
def test_a_url_with_a_password_is_refused_on_the_command_line(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _rbc(["config", "show", "--topics", "in", flag, "http://me:hunter2@h:1"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "hunter2" not in err, err
    assert "password" in err and "RBC_" in err


def test_secrets_from_the_environment_are_accepted_and_never_shown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {key: f"hunter2-{i}" for i, key in enumerate(SECRET_KAFKA_KEYS) if "credentials" not in key}
    monkeypatch.setenv("RBC_KAFKA__EXTRA", json.dumps({**extra, "fetch.wait.max.ms": "50"}))
    monkeypatch.setenv("RBC_REGISTRY_URL", "https://reader:hunter2-url@registry.example:8081/")
    code, out, err = _rbc(["config", "show", "--topics", "in"], capsys)
    assert code == 0, err
    assert "hunter2" not in out + err
    rows = dict(line.split(" ", 1) for line in out.splitlines())
    assert rows["registry_url"].startswith("https://registry.example:8081/")
    assert rows["registry_password"].startswith("***") and rows["registry_username"].startswith("reader")
    settings = load_settings(ServeSettings, {"input_topics": ["in"]})
    assert {k: settings.kafka.client_config()[k] for k in extra} == extra  # they reach librdkafka
    assert settings.kafka.extra == {"fetch.wait.max.ms": "50"}
    shown = settings.kafka.redacted()
    assert all(shown[k] == "***" for k in extra) and shown["fetch.wait.max.ms"] == "50"
    assert "hunter2" not in repr(settings)


def test_every_secret_kafka_key_has_its_secret_field_mechanically() -> None:
    for key, field in SECRET_KAFKA_KEYS.items():
        assert KafkaSettings.model_fields[field].annotation == SecretStr | None
        assert field.replace("_", ".") == key or "credentials" in key  # librdkafka's alias
        assert masked({key: "x"}) == {key: "***"}
    assert masked({"sasl.username": "me", "ssl.ca.location": "/ca.pem"}) == {
        "sasl.username": "me",
        "ssl.ca.location": "/ca.pem",
    }
