"""The output topics' settings and Kafka's rule for topic names (no client needed to check them)."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, model_validator

from rbc1000.alerts.framing import Framing

# Kafka's own rule (kafka.common.internals.Topic): legal characters and at most 249 of them.
_LEGAL_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


class OutputFramingOptions(BaseModel):
    """How a command frames the records it publishes (the service's and the labelling app's)."""

    output_framing: Framing = Field(
        default="container",
        description="records published: container = an Avro container per message, schema inside; "
        "confluent = 5-byte header + the id --output-registry-url gives <topic>-value",
    )
    output_registry_url: str | None = Field(
        default=None,
        description="Confluent-compatible schema registry where --output-framing confluent "
        "registers the output schemas at start",
    )

    @model_validator(mode="after")
    def _check_output_framing(self) -> OutputFramingOptions:
        if self.output_framing == "confluent" and not self.output_registry_url:
            raise ValueError(
                "--output-framing confluent needs --output-registry-url (RBC_OUTPUT_REGISTRY_URL)"
            )
        return self


class OutputTopicSettings(BaseModel):
    """How missing output topics are created (scored, labelling, dead-letter)."""

    create: bool = Field(
        default=True,
        description="create missing output topics at start; off: only check that they exist",
    )
    partitions: int = Field(default=6, ge=1, description="partitions of a created output topic")
    replication_factor: int = Field(
        default=-1, ge=-1, description="replicas of a created output topic; -1: the broker's default"
    )
    retention_ms: int | None = Field(
        default=None, ge=-1, description="retention.ms of a created topic; unset: the broker's default"
    )
    max_message_bytes: int | None = Field(
        default=None,
        ge=1,
        description="max.message.bytes of a created topic; unset: rbc serve's message_max_bytes, "
        "the broker's default elsewhere",
    )

    def topic_config(self) -> dict[str, str]:
        """The per-topic configuration of a created topic."""
        config = {"retention.ms": self.retention_ms, "max.message.bytes": self.max_message_bytes}
        return {key: str(value) for key, value in config.items() if value is not None}


def topic_name_problem(name: str) -> str | None:
    """Why Kafka would refuse `name` as a topic name, or None when it is legal."""
    if name in (".", ".."):
        return f"invalid topic name {name!r}: '.' and '..' are not allowed"
    if _LEGAL_TOPIC.fullmatch(name) is None:
        return f"invalid topic name {name!r}: use 1 to 249 of the characters a-z, A-Z, 0-9, '.', '_', '-'"
    return None


def _subscribes(subscription: str, topic: str) -> bool:
    """Would a subscription entry (name, or ^regex as librdkafka reads it) match `topic`?"""
    if subscription.startswith("^"):
        return re.search(subscription, topic) is not None
    return subscription == topic


def topic_problems(input_topics: list[str], outputs: list[str]) -> list[str]:
    """What is wrong with a service's topics: names, regular expressions, outputs read back."""
    problems = [p for t in outputs if (p := topic_name_problem(t)) is not None]
    if len(set(outputs)) != len(outputs):
        problems.append(f"scored, labelling and dead-letter topics must differ: {outputs}")
    for topic in input_topics:
        if topic.startswith("^"):
            try:
                re.compile(topic)
            except re.error as exc:
                problems.append(f"invalid regular expression {topic!r}: {exc}")
                continue
        elif (problem := topic_name_problem(topic)) is not None:
            problems.append(problem)
            continue
        problems += [
            f"input {topic!r} would consume the output topic {o!r}" for o in outputs if _subscribes(topic, o)
        ]
    return problems


def split_list(value: Any) -> Any:
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
