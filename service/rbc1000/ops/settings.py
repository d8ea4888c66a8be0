"""Typed settings of the `rbc` commands, from flags, environment and a config file.

Precedence, highest first: command-line flags, environment variables `RBC_...` (nested fields
with a double underscore: `RBC_KAFKA__BOOTSTRAP_SERVERS`, `RBC_KAFKA__SASL_PASSWORD`), a YAML
config file (`--config FILE` or `RBC_CONFIG_FILE`), then the defaults below. Built once in
`main()` and passed down; nothing reads the environment anywhere else.

Kafka client options are `rbc1000.ops.kafka_settings.KafkaSettings`. Secrets are `SecretStr`:
they never appear in `repr`, logs or validation errors. Give them through the environment or
the config file, never as flags (flags are visible in `ps`).

The flags of each command are generated from these models (`rbc1000.ops.cli_flags`), so a
field's description and default are its help text; the same field name means the same flag
in every command.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
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
from rbc1000.alerts.limits import DecodeLimits
from rbc1000.alerts.native import DecodePath
from rbc1000.assets import default_model_path
from rbc1000.model.providers import Provider
from rbc1000.model.registry import current_model_path
from rbc1000.ops.cli_flags import UsageError
from rbc1000.ops.decision_settings import DecisionOptions
from rbc1000.ops.env_check import check_environment, config_file_problem, describe_errors, problem_lines
from rbc1000.ops.kafka_settings import READ_COMMITTED, KafkaSettings, transactional_id
from rbc1000.ops.logging import LogFormat, LogLevel, LogSettings
from rbc1000.ops.registry_settings import RegistryClientSettings
from rbc1000.ops.stream_limits import StreamLimitOptions
from rbc1000.ops.topic_settings import OutputFramingOptions, OutputTopicSettings, split_list, topic_problems

__all__ = ["LogFormat", "LogLevel", "describe_errors"]  # re-exported: other modules read them here

_CONFIG_FILE: ContextVar[Path | None] = ContextVar("rbc_config_file", default=None)
CONFIG_HELP = "YAML settings file, same names as the settings (also RBC_CONFIG_FILE)"


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
        description="ONNX model exported by `rbc-train export` (serve watches it for updates); "
        "it judges every survey its policy declares (a model without one: ZTF only). "
        "--model SURVEY=PATH (repeatable) gives a survey its own model instead",
    )
    survey_models: dict[str, Path] = Field(
        default_factory=dict,
        description="a model per survey, e.g. ztf=a.onnx lsst=b.onnx (files may be shared; each "
        "must declare its survey); surveys no model declares are published unscored",
    )
    model_registry: Path | None = Field(
        default=None,
        description="model registry (`rbc models`) whose current version is served and followed "
        "when `rbc-train retrain` promotes or `rbc models rollback` moves it; instead of --model",
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
    decode_path: DecodePath = Field(
        default="auto",
        description="alert decoding: native = the compiled core (rbc1000._native), python = the "
        "reference path, auto = native when installed; logged at start, never switched after",
    )
    decode_limits: DecodeLimits = Field(
        default_factory=DecodeLimits,
        description="caps on what one packet may cost to decode (README: Decode limits); past "
        "one, the record is dead-lettered as limit_exceeded",
    )

    @model_validator(mode="after")
    def _model_from_registry(self) -> ScoringOptions:
        # `current/model.onnx` is a link through the registry's atomically swapped pointer, so
        # the model watcher follows promotions and rollbacks like any other file change.
        if self.model_registry is not None:
            if "model_path" in self.model_fields_set:
                raise ValueError("give --model or --model-registry, not both")
            self.model_path = current_model_path(self.model_registry)
        return self

    def bare_model(self) -> Path | None:
        """The model that judges the surveys it declares, unless only SURVEY=PATH models were given."""
        given = "model_path" in self.model_fields_set or self.model_registry is not None
        return self.model_path if given or not self.survey_models else None


class ServeSettings(
    _FileBackedSettings,
    ScoringOptions,
    DecisionOptions,
    LogSettings,
    OutputFramingOptions,
    RegistryClientSettings,
    StreamLimitOptions,
):
    """Everything `rbc serve` needs: where to read, what to write, the model and the batching."""

    model_config = SettingsConfigDict(env_prefix="RBC_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    input_topics: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="topics to consume, comma-separated or repeated; an entry starting with ^ is a "
        "regular expression, e.g. ^ztf_[0-9]{8}_programid1$",
    )
    group_id: str = Field(default="rbc-scorer", description="consumer group id")
    exactly_once: bool = Field(
        default=False,
        description="one Kafka transaction per batch holding its outputs and input offsets: "
        "consumers reading with isolation.level=read_committed see each output once, through "
        "crashes and broker restarts (slower; README: Exactly once)",
    )
    instance_id: str | None = Field(
        default=None,
        description="name of this instance, the same across its restarts and unique among the "
        "group's live instances; --exactly-once uses <group>.<instance> as transactional.id "
        "(default: the host name)",
    )
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
    output_topics: OutputTopicSettings = Field(default_factory=OutputTopicSettings)
    model_poll_s: float = Field(default=5.0, gt=0, description="seconds between checks for a new model")
    batch_max_wait_s: float = Field(
        default=0.2, gt=0, le=60, description="seconds to wait for a batch to fill after its first message"
    )
    labelling_rate_per_s: float = Field(
        default=5.0, ge=0, description="alerts per second sent to labelling at most"
    )
    labelling_burst: int = Field(default=50, ge=1, description="labelling burst size")
    drift_window_alerts: int = Field(
        default=5000,
        ge=1,
        description="scores per survey in the drift window that rbc_p_real_drift_psi compares "
        "with the model's reference histogram (ops/drift.py)",
    )
    drift_window_s: float = Field(
        default=0.0,
        ge=0,
        description="seconds: also drop older scores from the drift window; 0: by count only",
    )
    flush_timeout_s: float = Field(
        default=30.0, gt=0, description="seconds to wait for the broker to acknowledge a batch"
    )
    schema_dir: Path | None = Field(default=None, description="local schema directory (default: built in)")
    metrics_host: str = Field(
        default="127.0.0.1",
        description="address of the metrics and health server; 0.0.0.0 (every interface) only "
        "where a network policy guards it (the image and the Helm chart set it)",
    )
    metrics_port: int | None = Field(
        default=9108,
        ge=0,
        le=65535,
        description="HTTP port of /metrics, /healthz, /readyz; 0 picks a free one, unset disables",
    )
    metrics_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="seconds a metrics or health client may take per request"
    )
    metrics_threads: int = Field(
        default=4, ge=1, le=64, description="worker threads of the metrics and health server"
    )

    _split_topics = field_validator("input_topics", mode="before")(split_list)

    @model_validator(mode="after")
    def _check_topics(self) -> ServeSettings:
        if not self.input_topics:
            raise ValueError("no input topics: give --topics or RBC_INPUT_TOPICS")
        problems = topic_problems(self.input_topics, self.output_topic_names())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _check_isolation(self) -> ServeSettings:
        if self.exactly_once and self.kafka.extra.get("isolation.level", READ_COMMITTED) != READ_COMMITTED:
            raise ValueError("--exactly-once reads its input with isolation.level=read_committed")
        return self

    def consumer_config(self) -> dict[str, str]:
        """librdkafka properties of the service's consumer."""
        config = self.kafka.client_config()
        if self.exactly_once:  # input written by another transactional stage: only committed records
            config["isolation.level"] = READ_COMMITTED
        return config

    def producer_config(self) -> dict[str, str]:
        """librdkafka properties of the service's producer."""
        config = self.kafka.client_config()
        if self.exactly_once:
            config["transactional.id"] = transactional_id(self.group_id, self.instance_id)
        return config

    def output_topic_names(self) -> list[str]:
        """The scored, labelling and dead-letter topics, in that order."""
        return [self.scored_topic, self.labelling_topic, self.dead_letter_topic]


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
    save_dir: Path | None = Field(default=None, description="also save each message's value into this folder")


S = TypeVar("S", bound=BaseModel)


def settings_models() -> list[type[BaseModel]]:
    """Every settings model that reads `RBC_*` variables, of every command (the label app's too)."""
    importlib.import_module("rbc1000.label.settings")
    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = list(_FileBackedSettings.__subclasses__())
    while todo:
        found.append(todo.pop())
        todo += found[-1].__subclasses__()
    return found


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
    check_environment(os.environ, settings_models())
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
    except (FileNotFoundError, UsageError) as exc:
        raise SettingsError(str(exc)) from None
    except Exception as exc:  # the YAML file or a JSON value of a variable does not parse
        problem = config_file_problem(exc)
        if problem is None:
            raise
        raise SettingsError(problem) from None
