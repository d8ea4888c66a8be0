"""/readyz of `rbc serve` follows librdkafka's view of the broker: a private broker is stopped
and started again on the same port; /readyz says `connected` is missing while it is gone and is
ready again once it is back, while /healthz (the loop still turns) stays 200 throughout."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.ops_support import LocalBroker, ServeProcess, produce, unique, wait_for
from tests.support.model_factory import RELAXED_CANARY_ENV, write_tiny_model

pytestmark = pytest.mark.integration


def missing(serve: ServeProcess) -> list[str]:
    code, body = serve.readyz()
    return ["no_answer"] if code == 0 else list(body.get("missing", []))


def test_readyz_follows_the_broker_and_healthz_the_loop(
    tmp_path: Path, vendored_alerts: Path, bootstrap: str
) -> None:
    # `bootstrap` only to run where the test broker (and so its jars) was set up.
    packet = sorted(vendored_alerts.glob("fink-broker__*.avro"))[0].read_bytes()
    broker = LocalBroker(tmp_path / "broker")
    broker.start()
    topic, serve = unique("health-in"), None
    try:
        produce(broker.bootstrap, topic, [packet])
        env = {
            **RELAXED_CANARY_ENV,
            "RBC_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
            "RBC_INPUT_TOPICS": topic,
            "RBC_GROUP_ID": unique("health-group"),
            "RBC_MODEL_PATH": str(write_tiny_model(tmp_path / "model.onnx")),
            "RBC_PROVIDER": "cpu",
            "RBC_SCORED_TOPIC": unique("health-scored"),
            "RBC_LABELLING_TOPIC": unique("health-lab"),
            "RBC_DEAD_LETTER_TOPIC": unique("health-dead"),
            "RBC_STALL_AFTER_S": "60",
        }
        serve = ServeProcess(tmp_path / "serve.log", env)
        wait_for(lambda: not serve.alive() or serve.readyz()[0] == 200, 120, "ready with the broker up")
        wait_for(
            lambda: not serve.alive() or serve.total("rbc_end_to_end_latency_seconds_count") >= 1,
            60,
            "the scored record acknowledged",
        )
        broker.stop()
        stopped = time.monotonic()
        wait_for(lambda: not serve.alive() or "connected" in missing(serve), 120, "not ready, broker gone")
        not_ready_after = time.monotonic() - stopped
        assert serve.alive(), serve.log()[-3000:]
        assert serve.get("/healthz")[0] == 200
        assert serve.total("rbc_ready") == 0

        broker.start()
        restarted = time.monotonic()
        produce(broker.bootstrap, topic, [packet])
        wait_for(lambda: not serve.alive() or serve.readyz()[0] == 200, 120, "ready again")
        ready_after = time.monotonic() - restarted
        assert serve.alive(), serve.log()[-3000:]
        wait_for(lambda: serve.total("rbc_alerts_scored_total") >= 2, 60, "the second alert scored")
        print(
            json.dumps(
                {
                    "not_ready_after_stop_s": round(not_ready_after, 1),
                    "ready_after_restart_s": round(ready_after, 1),
                }
            )
        )
    finally:
        if serve is not None:
            serve.stop()
        broker.stop()
