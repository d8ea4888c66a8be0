"""Model updates without a restart, against the real broker.

One single-partition input topic, three rounds of the same real alerts: round 1 under model
v1; then the model file is replaced by a corrupt one, which must be refused while round 2 is
still scored by v1; then by a valid v2, which must be taken up, so round 3 is scored by v2.
The input offset in each scored record's headers tells the rounds apart.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rbc1000.stream.records import decode_kafka
from tests.integration.ops_support import (
    ServeProcess,
    consume_all,
    create_topic,
    header,
    produce,
    unique,
    wait_for,
)
from tests.support.model_factory import tiny_info, tiny_model, write_tiny_model

pytestmark = pytest.mark.integration


def _replace_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _start_serving(bootstrap: str, model: Path, topic: str, scored: str, log: Path) -> ServeProcess:
    """`rbc serve` on `topic` with `model`, polling the model file every 0.3 s."""
    create_topic(bootstrap, topic, partitions=1)
    return ServeProcess(
        log,
        {
            "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "RBC_INPUT_TOPICS": topic,
            "RBC_GROUP_ID": unique("reload-group"),
            "RBC_MODEL_PATH": str(model),
            "RBC_PROVIDER": "cpu",
            "RBC_MODEL_POLL_S": "0.3",
            "RBC_SCORED_TOPIC": scored,
            "RBC_LABELLING_TOPIC": unique("reload-lab"),
            "RBC_DEAD_LETTER_TOPIC": unique("dead"),
        },
    )


def _versions_by_round(bootstrap: str, scored: str, n: int) -> dict[int, set[str]]:
    """The model versions that scored each round of `n` messages, read from the scored topic."""
    versions: dict[int, set[str]] = {0: set(), 1: set(), 2: set()}
    for m in consume_all(bootstrap, scored, 3 * n):
        offset = header(m, "rbc.source.offset")
        assert offset is not None
        versions[int(offset) // n].add(decode_kafka(m.value())["model_version"])
    return versions


def test_corrupt_model_refused_while_scoring_continues_then_valid_one_taken_up(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path
) -> None:
    files = sorted(vendored_alerts.glob("fink-broker__ztf_v4.02__*.avro"))[:6]
    model = write_tiny_model(tmp_path / "model.onnx", tiny_info(version="v1"))
    topic, scored = unique("reload-in"), unique("reload-scored")
    serve = _start_serving(bootstrap, model, topic, scored, tmp_path / "serve.log")
    n = len(files)
    try:
        produce(bootstrap, topic, (f.read_bytes() for f in files))
        wait_for(
            lambda: serve.total("rbc_alerts_scored_total") >= n or not serve.alive(), 120, "round 1 scored"
        )

        _replace_atomically(model, b"\x08\x09 this is not an ONNX model")
        wait_for(
            lambda: serve.total("rbc_model_reloads_total", outcome="refused") >= 1 or not serve.alive(),
            60,
            "the corrupt model refused",
        )
        produce(bootstrap, topic, (f.read_bytes() for f in files))
        wait_for(
            lambda: serve.total("rbc_alerts_scored_total") >= 2 * n or not serve.alive(),
            60,
            "round 2 scored while the corrupt file sits there",
        )
        assert serve.total("rbc_model_info", version="v1") == 1

        _replace_atomically(model, tiny_model(tiny_info(version="v2")).SerializeToString())
        wait_for(
            lambda: serve.total("rbc_model_reloads_total", outcome="accepted") >= 1 or not serve.alive(),
            60,
            "the valid model taken up",
        )
        produce(bootstrap, topic, (f.read_bytes() for f in files))
        wait_for(
            lambda: serve.total("rbc_alerts_scored_total") >= 3 * n or not serve.alive(), 60, "round 3 scored"
        )
        assert serve.alive(), serve.log()
        assert serve.total("rbc_model_reloads_total", outcome="refused") == 1
        assert serve.total("rbc_model_reloads_total", outcome="accepted") == 1
        assert serve.total("rbc_model_info", version="v2") == 1
        assert "model_reload_refused" in serve.log()
    finally:
        assert serve.stop() == 0, serve.log()

    assert _versions_by_round(bootstrap, scored, n) == {0: {"v1"}, 1: {"v1"}, 2: {"v2"}}
