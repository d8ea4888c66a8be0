"""Typed settings of the `rbc` commands, from flags, environment and a config file.

Precedence, highest first: command-line flags, environment variables `RBC_...` (nested fields
with a double underscore: `RBC_KAFKA__BOOTSTRAP_SERVERS`, `RBC_KAFKA__SASL_PASSWORD`), a YAML
config file (`--config FILE` or `RBC_CONFIG_FILE`), then the defaults below. Built once in
`main()` and passed down; nothing reads the environment anywhere else.

Kafka client options map mechanically to librdkafka properties: the field name with `_`
replaced by `.` (`sasl_mechanism` -> `sasl.mechanism`, `ssl_ca_location` -> `ssl.ca.location`);
`KafkaSettings.extra` passes any other librdkafka property through unchanged. Secrets are
`SecretStr`: they never appear in `repr`, logs or validation errors. Give them through the
environment or the config file, never as flags (flags are visible in `ps`).

The flags of each command are generated from these models (`rbc1000.ops.cli_flags`), so a
field's description and default are its help text; the same field name means the same flag
in every command.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from rbc1000.alerts.framing import Framing
from rbc1000.assets import default_model_path
from rbc1000.model.providers import Provider
from rbc1000.ops.cli_flags import UsageError
from rbc1000.ops.logging import LogFormat, LogLevel, LogSettings

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
__all__ = ["LogFormat", "LogLevel"]  # re-exported: the label app reads them from here

# Properties the service sets itself because its delivery guarantee depends on them.
RESERVED_KAFKA_KEYS = frozenset(
    {
        "group.id",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "enable.idempotence",
        "acks",
        "bootstrap.servers",
    }
)
_SECRET_HINTS = ("password", "secret", "token", "key.pem", "private")

_CONFIG_FILE: ContextVar[Path | None] = ContextVar("rbc_config_file", default=None)
CONFIG_HELP = "YAML settings file, same names as the settings (also RBC_CONFIG_FILE)"


class KafkaSettings(BaseModel):
    """Kafka client options shared by the consumer and the producer (SASL/SCRAM, TLS)."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]"
    )
    client_id: str = Field(default="rbc", description="client id the broker logs and quotas see")
    security_protocol: SecurityProtocol = Field(default="PLAINTEXT", description="how to reach the broker")
    sasl_mechanism: SaslMechanism | None = Field(default=None, description="SASL mechanism")
    sasl_username: str | None = Field(default=None, description="SASL user name")
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = Field(default=None, description="CA certificate file (PEM)")
    ssl_certificate_location: str | None = Field(default=None, description="client certificate (PEM)")
    ssl_key_location: str | None = Field(default=None, description="client private key file (PEM)")
    ssl_key_password: SecretStr | None = None
    ssl_endpoint_identification_algorithm: Literal["https", "none"] | None = Field(
        default=None, description="check the broker's host name against its certificate"
    )
    extra: dict[str, str] = Field(
        default_factory=dict,
        description="any other librdkafka property, passed through as is; repeatable "
        "(never a password: use the environment)",
    )

    @model_validator(mode="after")
    def _check_security(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_"):
            missing = [
                n for n in ("sasl_mechanism", "sasl_username", "sasl_password") if getattr(self, n) is None
            ]
            if missing and self.sasl_mechanism != "OAUTHBEARER":
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs {missing} "
                    "(for example RBC_KAFKA__SASL_PASSWORD)"
                )
        reserved = sorted(RESERVED_KAFKA_KEYS & set(self.extra))
        if reserved:
            raise ValueError(
                f"kafka.extra may not set {reserved}: the service sets them "
                "(use the dedicated settings instead)"
            )
        return self

    def client_config(self) -> dict[str, str]:
        """librdkafka properties: every set field, `_` -> `.`, secrets revealed, then `extra`."""
        config: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "extra" or value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            config[name.replace("_", ".")] = str(value)
        config.update(self.extra)
        return config

    def redacted(self) -> dict[str, str]:
        """`client_config()` safe to log: secret values replaced by `***`."""
        secret_keys = {
            n.replace("_", ".") for n in type(self).model_fields if isinstance(getattr(self, n), SecretStr)
        }
        return {
            k: "***" if k in secret_keys or any(h in k for h in _SECRET_HINTS) else v
            for k, v in self.client_config().items()
        }


def _split_list(value: Any) -> Any:
    """Accept `a,b` and `["a", "b"]` for list settings given as one string.

    Entries of a list (repeated flag values) are split at commas too, except a `^regex`,
    whose commas belong to it; topic names cannot contain commas.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = [p for item in value for p in ([item] if item.startswith("^") else item.split(","))]
        return [part.strip() for part in parts if part.strip()]
    return value


class _FileBackedSettings(BaseSettings):
    """Adds the YAML config file of `load_settings` below the environment in precedence."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _CONFIG_FILE.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)


class ScoringOptions(BaseModel):
    """How alerts are scored, the same for `rbc serve` and `rbc score`."""

    model_path: Path = Field(
        default_factory=default_model_path,
        description="ONNX model exported by `rbc-train export` (serve watches it for updates)",
    )
    provider: Provider = Field(default="auto", description="ONNX Runtime execution provider")
    intra_op_threads: int = Field(
        default=1,
        ge=0,
        description="ONNX Runtime CPU threads; 1 leaves the other cores to decoding and "
        "librdkafka (scale out with more instances in the group); 0: ORT decides",
    )
    io_binding: bool = Field(
        default=False,
        description="score through ONNX Runtime I/O binding with preallocated buffers reused "
        "across batches (pinned host memory on CUDA); same scores, fewer copies on a GPU",
    )
    batch_size: int = Field(default=256, ge=1, le=10_000, description="alerts per ONNX call at most")
    include_packet: bool = Field(
        default=True, description="keep the original packet bytes in scored records (Avro)"
    )


class ServeSettings(_FileBackedSettings, ScoringOptions, LogSettings):
    """Everything `rbc serve` needs: where to read, what to write, the model and the batching."""

    model_config = SettingsConfigDict(env_prefix="RBC_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    input_topics: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="topics to consume, comma-separated or repeated; an entry starting with ^ is a "
        "regular expression, e.g. ^ztf_[0-9]{8}_programid1$",
    )
    group_id: str = Field(default="rbc-scorer", description="consumer group id")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest", description="where a new consumer group starts"
    )
    scored_topic: str = Field(default="rbc.scored", description="topic of scored records")
    labelling_topic: str = Field(
        default="rbc.labelling", description="topic of uncertain alerts for labellers"
    )
    dead_letter_topic: str = Field(
        default="rbc.dead-letter", description="topic of undecodable or unscorable messages"
    )
    model_poll_s: float = Field(default=5.0, gt=0, description="seconds between checks for a new model")
    batch_max_wait_s: float = Field(
        default=0.2, gt=0, le=60, description="seconds to wait for a batch to fill after its first message"
    )
    labelling_rate_per_s: float = Field(
        default=5.0, ge=0, description="alerts per second sent to labelling at most"
    )
    labelling_burst: int = Field(default=50, ge=1, description="labelling burst size")
    flush_timeout_s: float = Field(
        default=30.0, gt=0, description="seconds to wait for the broker to acknowledge a batch"
    )
    schema_dir: Path | None = Field(default=None, description="local schema directory (default: built in)")
    registry_url: str | None = Field(
        default=None, description="Confluent schema registry for schema ids not found locally"
    )
    metrics_host: str = Field(default="0.0.0.0", description="address of the metrics and health server")
    metrics_port: int | None = Field(
        default=9108,
        ge=0,
        le=65535,
        description="HTTP port of /metrics, /healthz, /readyz; 0 picks a free one, unset disables",
    )

    _split_topics = field_validator("input_topics", mode="before")(_split_list)

    @model_validator(mode="after")
    def _check_topics(self) -> ServeSettings:
        if not self.input_topics:
            raise ValueError("no input topics: give --topics or RBC_INPUT_TOPICS")
        outputs = [self.scored_topic, self.labelling_topic, self.dead_letter_topic]
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"scored, labelling and dead-letter topics must differ: {outputs}")
        for topic in self.input_topics:
            for out in outputs:
                if _subscribes(topic, out):
                    raise ValueError(f"input {topic!r} would consume the output topic {out!r}")
        return self


class ScoreSettings(ScoringOptions):
    """What `rbc score` needs besides its paths and output file: flags only, no broker."""

    model_config = ConfigDict(extra="forbid")

    # A one-off batch job has the machine to itself: let ONNX Runtime use every core.
    intra_op_threads: int = Field(default=0, ge=0, description="ONNX Runtime CPU threads; 0: ORT decides")
    gallery: int = Field(default=4, ge=0, description="alerts per group in the PNG gallery; 0: no picture")


class ReplaySettings(_FileBackedSettings, LogSettings):
    """What `rbc replay` needs: the broker, the topic, the pace and the framing."""

    model_config = SettingsConfigDict(env_prefix="RBC_", env_nested_delimiter="__", extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topic: str = Field(description="topic to publish into")
    rate_per_s: float = Field(default=0.0, ge=0, description="messages per second; 0: no limit")
    framing: Framing = Field(
        default="container",
        description="container: one file per message, bytes unchanged (ZTF); confluent: one "
        "record per message behind the 5-byte header (Rubin, WFST)",
    )
    schema_id: int | None = Field(
        default=None, ge=0, description="schema id for --framing confluent (Rubin: major*100+minor)"
    )
    repeat: int = Field(default=1, ge=1, description="send the files this many times")
    schema_dir: Path | None = Field(default=None, description="local schema directory (default: built in)")
    registry_url: str | None = Field(
        default=None, description="Confluent schema registry for schema ids not found locally"
    )
    partitions: int | None = Field(
        default=None, ge=1, description="create the topic with this many partitions if it does not exist"
    )
    flush_timeout_s: float = Field(
        default=60.0, gt=0, description="seconds to wait for the broker to acknowledge everything"
    )

    @model_validator(mode="after")
    def _check_framing(self) -> ReplaySettings:
        if self.framing == "confluent" and self.schema_id is None:
            raise ValueError("confluent framing needs --schema-id (Rubin: major*100+minor)")
        if self.framing == "container" and self.schema_id is not None:
            raise ValueError("--schema-id applies only to --framing confluent")
        return self


class PeekSettings(_FileBackedSettings, LogSettings):
    """What `rbc peek` needs: the broker (as for serve), the topic and when to stop."""

    model_config = SettingsConfigDict(env_prefix="RBC_", env_nested_delimiter="__", extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topic: str = Field(default="rbc.scored", description="topic to read")
    max_messages: int = Field(default=20, ge=1, description="messages to print at most")
    timeout_s: float = Field(
        default=5.0, gt=0, description="seconds to wait for another message before stopping"
    )


def _subscribes(subscription: str, topic: str) -> bool:
    """Would a subscription entry (name, or ^regex as librdkafka reads it) match `topic`?"""
    if subscription.startswith("^"):
        return re.search(subscription, topic) is not None
    return subscription == topic


S = TypeVar("S", bound=BaseModel)


@contextmanager
def _config_file(path: Path | None) -> Iterator[None]:
    token = _CONFIG_FILE.set(path)
    try:
        yield
    finally:
        _CONFIG_FILE.reset(token)


def load_settings(cls: type[S], flags: dict[str, Any], config_file: Path | None = None) -> S:
    """Build settings from flags (only those given), the environment and an optional YAML file.

    Raises pydantic.ValidationError (use `describe_errors`) or FileNotFoundError.
    """
    if config_file is None and os.environ.get("RBC_CONFIG_FILE"):
        config_file = Path(os.environ["RBC_CONFIG_FILE"])
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file {config_file} does not exist")
    with _config_file(config_file):
        return cls(**{k: v for k, v in flags.items() if v is not None})


class SettingsError(UsageError):
    """Settings that cannot be used; `problems` lists them, one line each, without values."""


def settings_or_error(cls: type[S], flags: dict[str, Any], config_file: Path | None = None) -> S:
    """`load_settings`, with every failure turned into one SettingsError for the command line."""
    try:
        return load_settings(cls, flags, config_file)
    except ValidationError as exc:
        raise SettingsError(*problem_lines(exc)) from None
    except FileNotFoundError as exc:
        raise SettingsError(str(exc)) from None


def describe_errors(exc: Exception) -> str:
    """One line per validation problem, without the offending values (they may be secrets)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    return "invalid settings:\n" + "\n".join(f"  {line}" for line in problem_lines(exc))


def problem_lines(exc: ValidationError) -> list[str]:
    """`field.path: what is wrong` per problem; inputs are left out, they may be secrets."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        lines.append(f"{loc}: {str(err.get('msg', '')).removeprefix('Value error, ')}")
    return lines
