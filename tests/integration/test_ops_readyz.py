"""/healthz and /readyz of `rbc serve` as the broker and the model come and go.

A private broker (not the shared one) is started, stopped and started again on the same
port, so the service sees its broker disappear and come back. /healthz stays 200 throughout
(the process is alive); /readyz is 200 only while connected, with partitions assigned and a
model loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.ops_support import (
    LocalBroker,
    ServeProcess,
    create_topic,
    free_port,
    produce,
    unique,
    wait_for,
)
from tests.support.model_factory import tiny_info, write_tiny_model

pytestmark = pytest.mark.integration


def _env(bootstrap: str, model: Path, topic: str) -> dict[str, str]:
    return {
        "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "RBC_INPUT_TOPICS": topic,
        "RBC_GROUP_ID": unique("readyz-group"),
        "RBC_MODEL_PATH": str(model),
        "RBC_PROVIDER": "cpu",
        "RBC_SCORED_TOPIC": unique("readyz-scored"),
        "RBC_LABELLING_TOPIC": unique("readyz-lab"),
        "RBC_DEAD_LETTER_TOPIC": unique("readyz-dead"),
    }


def _missing(serve: ServeProcess) -> list[str]:
    """What /readyz says is missing; ["no_answer"] while nothing listens yet."""
    code, body = serve.readyz()
    if code == 0:
        return ["no_answer"]
    assert code in (200, 503), (code, body)
    return list(body.get("missing", []))


def test_not_ready_without_a_broker(tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "model.onnx")
    nobody = f"127.0.0.1:{free_port()}"
    serve = ServeProcess(tmp_path / "serve.log", _env(nobody, model, unique("readyz-in")))
    try:
        wait_for(lambda: serve.get("/healthz")[0] == 200, 60, "/healthz answering")
        code, body = serve.readyz()
        assert code == 503
        assert {"connected", "partitions_assigned"} <= set(body["missing"])
        assert "model_loaded" not in body["missing"]
    finally:
        serve.kill()


def test_refuses_to_start_on_a_model_of_another_preprocessing(tmp_path: Path, bootstrap: str) -> None:
    model = write_tiny_model(tmp_path / "model.onnx", tiny_info(preprocessing_version="rbc-pp-0"))
    serve = ServeProcess(tmp_path / "serve.log", _env(bootstrap, model, unique("readyz-in")))
    assert serve.proc.wait(120) == 2
    assert "rbc-pp-0" in serve.log()
    assert serve.readyz()[0] == 0  # it never served /readyz


def test_readyz_flips_as_the_broker_goes_and_comes_back(
    tmp_path: Path, vendored_alerts: Path, bootstrap: str
) -> None:
    # `bootstrap` only to run where the test broker (and so its jars) was set up.
    packet = sorted(vendored_alerts.glob("fink-broker__ztf_v4.02__*.avro"))[0].read_bytes()
    broker = LocalBroker(tmp_path / "broker")
    broker.start()
    topic = unique("readyz-in")
    serve = None
    try:
        produce(broker.bootstrap, topic, [packet])
        model = write_tiny_model(tmp_path / "model.onnx")
        serve = ServeProcess(tmp_path / "serve.log", _env(broker.bootstrap, model, topic))
        wait_for(lambda: not serve.alive() or serve.readyz()[0] == 200, 120, "ready with the broker up")
        assert serve.total("rbc_ready") == 1
        # Take the broker away only once the output is acknowledged: with an output in
        # flight the service rightly fails (exit 1, nothing committed) instead of waiting.
        wait_for(
            lambda: not serve.alive() or serve.total("rbc_end_to_end_latency_seconds_count") >= 1,
            60,
            "the scored record acknowledged",
        )

        broker.stop()
        wait_for(
            lambda: not serve.alive() or "connected" in _missing(serve),
            120,
            "not ready once the broker is gone",
        )
        assert serve.alive(), serve.log()
        assert serve.get("/healthz")[0] == 200
        assert serve.total("rbc_ready") == 0

        broker.start()
        produce(broker.bootstrap, topic, [packet])
        wait_for(
            lambda: not serve.alive() or serve.readyz()[0] == 200, 120, "ready again once the broker is back"
        )
        assert serve.alive(), serve.log()
        assert serve.total("rbc_alerts_scored_total") >= 1
    finally:
        if serve is not None:
            serve.stop()
        broker.stop()


def test_ready_on_a_quiet_topic_once_partitions_are_assigned(tmp_path: Path, bootstrap: str) -> None:
    topic = unique("readyz-quiet")
    create_topic(bootstrap, topic, partitions=1)
    model = write_tiny_model(tmp_path / "model.onnx")
    serve = ServeProcess(tmp_path / "serve.log", _env(bootstrap, model, topic))
    try:
        wait_for(
            lambda: not serve.alive() or not {"no_answer", "partitions_assigned"} & set(_missing(serve)),
            60,
            "partitions assigned",
        )
        wait_for(lambda: serve.readyz()[0] == 200, 10, "ready without any message")
    finally:
        serve.stop()
