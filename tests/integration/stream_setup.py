"""Topics, model and `rbc serve` processes for the streaming tests (tests/integration/test_stream_*)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tests.integration.ops_support import ServeProcess, create_topic, unique, wait_for
from tests.support.model_factory import RELAXED_CANARY_ENV


@dataclass(frozen=True)
class StreamTopics:
    """uuid-named input and output topics and group of one test."""

    input: str
    scored: str
    labelling: str
    dead: str
    group: str

    @classmethod
    def create(cls, bootstrap: str, prefix: str, partitions: int) -> StreamTopics:
        topics = cls(
            unique(f"{prefix}-in"),
            unique(f"{prefix}-scored"),
            unique(f"{prefix}-labelling"),
            unique(f"{prefix}-dead"),
            unique(f"{prefix}-group"),
        )
        create_topic(bootstrap, topics.input, partitions)
        for out in (topics.scored, topics.labelling, topics.dead):
            create_topic(bootstrap, out, 1)
        return topics


def serve_env(
    bootstrap: str, topics: StreamTopics, model: Path, batch_size: int = 16, **extra: str
) -> dict[str, str]:
    """The RBC_ variables of one test member of the group; `extra` overrides or adds.

    A short session timeout lets the group notice a killed member in seconds, not 45 s. The
    tiny test model is no classifier, so the canary is relaxed (`RELAXED_CANARY_ENV`).
    """
    env = {
        **RELAXED_CANARY_ENV,
        "RBC_KAFKA__EXTRA": json.dumps({"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}),
        "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "RBC_INPUT_TOPICS": topics.input,
        "RBC_GROUP_ID": topics.group,
        "RBC_SCORED_TOPIC": topics.scored,
        "RBC_LABELLING_TOPIC": topics.labelling,
        "RBC_DEAD_LETTER_TOPIC": topics.dead,
        "RBC_MODEL_PATH": str(model),
        "RBC_PROVIDER": "cpu",
        "RBC_BATCH_SIZE": str(batch_size),
        "RBC_BATCH_MAX_WAIT_S": "0.1",
        "RBC_LABELLING_RATE_PER_S": "inf",
    }
    env.update(extra)
    return env


def start_serve(
    bootstrap: str,
    topics: StreamTopics,
    model: Path,
    log: Path,
    batch_size: int = 16,
    labelling_rate: str = "inf",
    wait_ready: bool = True,
) -> ServeProcess:
    """`rbc serve` on these topics, configured through `serve_env`; waits for /readyz."""
    serve = ServeProcess(
        log, serve_env(bootstrap, topics, model, batch_size, RBC_LABELLING_RATE_PER_S=labelling_rate)
    )
    if wait_ready:
        wait_for(lambda: serve.readyz()[0] == 200 or not serve.alive(), 90, "rbc serve ready")
        assert serve.alive(), serve.log()
    return serve
