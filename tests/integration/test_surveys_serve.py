"""Which surveys a served model judges, and which models may serve, against the real broker.

- A ZTF-only model given the vendored alerts (ZTF and LSSTCam) publishes no verdict for the
  Rubin ones: decision `unscored`, p_real null, counted by survey; with the random labelling
  share at 1 every scored ZTF alert reaches the labelling topic marked `random`, with its
  packet, although the scored topic leaves packets out.
- A gated but worse-than-random model (1 - p of the shipped one) is refused at start (exit 2,
  one line) and at hot reload, where the old model keeps serving.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rbc1000.assets import default_model_path
from rbc1000.model.scoring import Scorer
from rbc1000.stream.records import decode_kafka
from tests.integration.ops_support import ServeProcess, consume_all, create_topic, produce, unique, wait_for
from tests.support.model_factory import inverted_model, tiny_info, write_tiny_model

pytestmark = pytest.mark.integration

STRICT_CANARY = {"RBC_CANARY_MIN_AUC": "0.75", "RBC_CANARY_MAX_UNCERTAIN": "0.5"}


def _env(bootstrap: str, model: Path, prefix: str, **extra: str) -> dict[str, str]:
    topics = {name: unique(f"{prefix}-{name}") for name in ("in", "scored", "lab", "dead")}
    for topic in topics.values():
        create_topic(bootstrap, topic)
    return {
        "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "RBC_INPUT_TOPICS": topics["in"],
        "RBC_GROUP_ID": unique(f"{prefix}-group"),
        "RBC_SCORED_TOPIC": topics["scored"],
        "RBC_LABELLING_TOPIC": topics["lab"],
        "RBC_DEAD_LETTER_TOPIC": topics["dead"],
        "RBC_MODEL_PATH": str(model),
        "RBC_PROVIDER": "cpu",
        "RBC_BATCH_MAX_WAIT_S": "0.1",
        "RBC_MODEL_POLL_S": "0.3",
        **extra,
    }


def test_a_ztf_only_model_gives_rubin_alerts_no_verdict(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path
) -> None:
    files = sorted(vendored_alerts.glob("*.avro"))
    lsst_files = [f for f in files if "lsstcam" in f.name]
    model = write_tiny_model(tmp_path / "ztf-only.onnx", tiny_info(surveys=()))  # legacy: ZTF only
    env = _env(
        bootstrap,
        model,
        "surveys",
        RBC_INCLUDE_PACKET="false",
        RBC_LABELLING_RATE_PER_S="inf",
        RBC_LABELLING_RANDOM_SHARE="1",
    )
    serve = ServeProcess(tmp_path / "serve.log", env)
    try:
        produce(bootstrap, env["RBC_INPUT_TOPICS"], (f.read_bytes() for f in files))
        wait_for(
            lambda: (
                serve.total("rbc_alerts_unscored_total")
                + serve.total("rbc_alerts_scored_total")
                + serve.total("rbc_alerts_dead_lettered_total")
                >= len(files)
                or not serve.alive()
            ),
            120,
            "every alert handled",
        )
        assert serve.total("rbc_alerts_unscored_total", survey="lsst") == len(lsst_files) == 5
        assert serve.total("rbc_alerts_scored_total", survey="lsst") == 0
    finally:
        assert serve.stop() == 0, serve.log()
    scored = [
        decode_kafka(m.value()) for m in consume_all(bootstrap, env["RBC_SCORED_TOPIC"], len(files) - 3)
    ]
    rubin = [r for r in scored if r["survey"] == "lsst"]
    assert len(rubin) == 5
    assert all(r["decision"] == "unscored" and r["p_real"] is None and r["model_name"] is None for r in rubin)
    assert all(r["survey_score_name"] == "reliability" for r in rubin)
    ztf = [r for r in scored if r["survey"] == "ztf"]
    assert ztf and all(
        r["decision"] in ("real", "bogus", "uncertain") and r["alert_packet"] is None for r in ztf
    )
    labelling = [
        decode_kafka(m.value()) for m in consume_all(bootstrap, env["RBC_LABELLING_TOPIC"], len(ztf))
    ]
    assert sorted(r["alert_id"] for r in labelling) == sorted(r["alert_id"] for r in ztf)
    assert all(r["selection_reason"] == "random" and r["alert_packet"] for r in labelling)


def test_a_worse_than_random_model_is_refused_at_start(bootstrap: str, tmp_path: Path) -> None:
    bad = tmp_path / "one-epoch.onnx"
    bad.write_bytes(inverted_model(default_model_path()).SerializeToString())
    serve = ServeProcess(tmp_path / "serve.log", _env(bootstrap, bad, "refuse", **STRICT_CANARY))
    try:
        code = serve.proc.wait(120)  # the refusal comes before anything is consumed
    finally:
        log = serve.log()
        serve.kill()
    assert code == 2, log
    refusals = [line for line in log.splitlines() if "model_refused" in line]
    assert len(refusals) == 1 and "canary ROC-AUC" in refusals[0] and "level=ERROR" in refusals[0]


def test_a_worse_than_random_model_is_refused_at_hot_reload(
    bootstrap: str, vendored_alerts: Path, tmp_path: Path
) -> None:
    files = sorted(vendored_alerts.glob("fink-broker__ztf_v4.02__*.avro"))[:6]
    model = tmp_path / "served.onnx"
    shutil.copyfile(default_model_path(), model)
    env = _env(bootstrap, model, "reload", RBC_ALLOW_UNGATED="true", **STRICT_CANARY)
    serve = ServeProcess(tmp_path / "serve.log", env)
    n = len(files)
    try:
        produce(bootstrap, env["RBC_INPUT_TOPICS"], (f.read_bytes() for f in files))
        wait_for(lambda: serve.total("rbc_alerts_scored_total") >= n or not serve.alive(), 120, "round 1")
        tmp = tmp_path / "bad.onnx"
        tmp.write_bytes(inverted_model(default_model_path()).SerializeToString())
        os.replace(tmp, model)
        wait_for(
            lambda: serve.total("rbc_model_reloads_total", outcome="refused") >= 1 or not serve.alive(),
            60,
            "the worse model refused",
        )
        produce(bootstrap, env["RBC_INPUT_TOPICS"], (f.read_bytes() for f in files))
        wait_for(lambda: serve.total("rbc_alerts_scored_total") >= 2 * n or not serve.alive(), 60, "round 2")
        assert serve.total("rbc_model_reloads_total", outcome="accepted") == 0
        assert "canary ROC-AUC" in serve.log()
    finally:
        assert serve.stop() == 0, serve.log()
    versions = {
        decode_kafka(m.value())["model_version"]
        for m in consume_all(bootstrap, env["RBC_SCORED_TOPIC"], 2 * n)
    }
    assert versions == {Scorer.load(default_model_path(), "cpu", 1).info.version}
