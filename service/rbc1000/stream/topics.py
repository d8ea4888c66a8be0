"""Output topics checked and created through the Admin API at start, before anything is consumed.

The service does not rely on the broker's `auto.create.topics.enable`: a topic the broker
would refuse, or a missing topic it is told not to create, stops the start with one line that
names the topic and what to do, instead of failing at the first produce after a message has
already been consumed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from rbc1000.ops.topic_settings import OutputTopicSettings


class TopicError(RuntimeError):
    """An output topic that cannot be used; the message names it and what to do."""


def ensure_topics(
    admin: AdminClient,
    topics: Sequence[str],
    settings: OutputTopicSettings,
    timeout_s: float = 30.0,
    message_max_bytes: int | None = None,
) -> list[str]:
    """Check that `topics` exist, creating the missing ones when allowed; the topics created.

    A created topic takes `max.message.bytes` from `settings`, else `message_max_bytes` (the
    producer's limit), so that what the producer accepts the topic accepts too.
    """
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise TopicError(f"cannot list topics to check the output topics: {exc.args[0]}") from None
    missing = [t for t in topics if t not in existing]
    if missing and not settings.create:
        raise TopicError(
            f"output topic {missing[0]!r} does not exist and output_topics.create is off: create it "
            "(partitions, retention) or run with --output-topics-create"
        )
    if not missing:
        return []
    config = settings.topic_config()
    if message_max_bytes is not None:
        config.setdefault("max.message.bytes", str(message_max_bytes))
    new = [
        NewTopic(
            t,
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            config=config,
        )
        for t in missing
    ]
    _wait_created(admin.create_topics(new, request_timeout=timeout_s))
    return missing


def _wait_created(futures: Mapping[str, Any]) -> None:
    """Wait for each creation; one already created by someone else meanwhile is fine."""
    for topic, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            err = exc.args[0]
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            reason = err.str() if isinstance(err, KafkaError) else str(err)
            raise TopicError(
                f"output topic {topic!r} could not be created: {reason} (create it yourself and run "
                "with --no-output-topics-create, or fix output_topics.*)"
            ) from None
