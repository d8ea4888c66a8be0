"""Typed settings of `rbc label`, in the project's settings style (see `rbc1000.ops.settings`).

Environment variables carry the `RBC_` prefix (`RBC_DATABASE_URL`, `RBC_KAFKA__BOOTSTRAP_SERVERS`,
`RBC_LABELLING_TOPIC`), so one environment can serve `rbc serve` and `rbc label serve` with the
same broker, topic names and output framing (`RBC_OUTPUT_FRAMING`, `RBC_OUTPUT_REGISTRY_URL`).
A YAML file (`--config` or `RBC_CONFIG_FILE`) comes below the environment; keys that belong
to other commands are ignored.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from rbc1000.assets import default_model_path
from rbc1000.ops.kafka_settings import KafkaSettings
from rbc1000.ops.logging import LogSettings
from rbc1000.ops.settings import _FileBackedSettings
from rbc1000.ops.topic_settings import OutputFramingOptions

SelectionReason = Literal["uncertain", "random"]


class StoreSettings(_FileBackedSettings, LogSettings):
    """What the chores on the database alone need (`useradd`, `passwd`, `userdel`, `export`)."""

    model_config = SettingsConfigDict(env_prefix="RBC_", env_nested_delimiter="__", extra="ignore")

    database_url: str = Field(
        default="sqlite:///rbc-label.sqlite",
        description="SQLAlchemy URL: sqlite:///FILE (default) or postgresql+psycopg://USER@HOST/DB",
    )


class LabelSettings(StoreSettings, OutputFramingOptions):
    """Everything the labelling app needs: database, web server, topics, consensus."""

    http_host: str = Field(default="127.0.0.1", description="address to bind; loopback unless told")
    http_port: int = Field(default=8300, ge=0, le=65535)
    secure_cookies: bool = Field(default=False, description="mark cookies Secure (behind HTTPS)")
    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    consensus_n: int = Field(default=1, ge=1, le=20, description="agreeing labellers that settle an alert")
    threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="queue order: distance of p_real to it; unset: the shipped model's",
    )
    max_packet_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    ingest: bool = Field(default=True, description="consume the labelling topic while serving")
    publish: bool = Field(default=True, description="publish consensus labels to the labels topic")
    labelling_topic: str = "rbc.labelling"
    labels_topic: str = "rbc.labels"
    ingest_group_id: str = "rbc-label"
    ingest_batch: int = Field(default=500, ge=1, le=10_000)
    publish_interval_s: float = Field(default=1.0, gt=0)
    flush_timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _check_topics(self) -> LabelSettings:
        if self.labelling_topic == self.labels_topic:
            raise ValueError("labelling_topic and labels_topic must differ")
        return self

    def queue_threshold(self) -> float:
        """The threshold the queue is ordered around."""
        return self.threshold if self.threshold is not None else shipped_threshold(default_model_path())


@cache
def shipped_threshold(path: Path) -> float:
    """The decision threshold in a model's metadata (read once per path)."""
    import onnx

    from rbc1000.model.contract import ModelInfo

    model = onnx.load(str(path), load_external_data=False)
    return ModelInfo.from_metadata({p.key: p.value for p in model.metadata_props}).threshold
