"""The run loop with a ZTF-only model: Rubin alerts published without a verdict (or held back),
labelling copies always with their packet and the reason they were chosen."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rbc1000.model.decisions import LabellingLimiter
from rbc1000.model.scoring import Scorer
from rbc1000.stream.records import decode_kafka
from tests.support.kafka_fakes import FakeSink, FakeSource, each_decode_path, messages, processor, vendored
from tests.support.model_factory import tiny_info, write_tiny_model

pytestmark = pytest.mark.usefixtures(each_decode_path.__name__)


@pytest.fixture(scope="module")
def ztf_only(tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    path: Path = tmp_path_factory.mktemp("ztf-only") / "m.onnx"
    return Scorer.load(write_tiny_model(path, tiny_info(surveys=())), "cpu", 1)


@pytest.fixture(scope="module")
def mixed() -> list[bytes]:
    return vendored("fink-broker__ztf_v4.02__*") + vendored("lsst-real__*")


def test_rubin_alerts_get_no_verdict_from_a_ztf_only_model(ztf_only: Scorer, mixed: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(mixed)), FakeSink()
    processor(source, sink, ztf_only).run()
    records = [decode_kafka(r.value) for r in sink.on("rbc.scored")]
    assert len(records) == len(mixed)
    rubin = [r for r in records if r["survey"] == "lsst"]
    assert len(rubin) == 5 and all(r["decision"] == "unscored" and r["p_real"] is None for r in rubin)
    assert all(r["decision"] != "unscored" and r["model_name"] for r in records if r["survey"] == "ztf")
    assert all(decode_kafka(r.value)["survey"] == "ztf" for r in sink.on("rbc.labelling"))


def test_unscored_alerts_can_be_kept_off_the_topics(ztf_only: Scorer, mixed: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(mixed)), FakeSink()
    processor(source, sink, ztf_only, publish_unscored=False).run()
    assert {decode_kafka(r.value)["survey"] for r in sink.on("rbc.scored")} == {"ztf"}
    assert list(source.committed.values()) == [len(mixed)]  # held back, yet processed and committed


def test_labelling_copies_carry_the_packet_and_the_reason(ztf_only: Scorer, mixed: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(mixed)), FakeSink()
    limiter = LabellingLimiter(math.inf, random_share=1.0, seed=3)
    processor(source, sink, ztf_only, limiter=limiter, include_packet=False).run()
    scored = [decode_kafka(r.value) for r in sink.on("rbc.scored")]
    labelling = [decode_kafka(r.value) for r in sink.on("rbc.labelling")]
    assert all(r["alert_packet"] is None for r in scored)
    assert len(labelling) == sum(r["survey"] == "ztf" for r in scored)
    assert all(r["alert_packet"] and r["selection_reason"] == "random" for r in labelling)
    assert {r["selection_reason"] for r in scored if r["survey"] == "ztf"} == {"random"}
