"""The run loop's outputs: one scored record per alert, labelling copies of uncertain alerts
within the rate cap, dead letters with reason and source for everything else."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.model.decisions import LabellingLimiter, decide
from rbc1000.model.preprocessing import triplet_from_cutouts
from rbc1000.model.scoring import Scorer
from rbc1000.ops.health import HealthState
from rbc1000.ops.metrics import Metrics
from rbc1000.stream.loop import StreamProcessor
from rbc1000.stream.records import decode_kafka
from tests.support.alert_factory import container, read_records
from tests.support.kafka_fakes import (
    ALERTS,
    FakeSink,
    FakeSource,
    collaborators,
    each_decode_path,
    header,
    messages,
    processor,
    settings,
    vendored,
)

pytestmark = pytest.mark.usefixtures(each_decode_path.__name__)


@pytest.fixture(scope="module")
def with_cutouts() -> list[bytes]:
    return vendored("fink-broker__*") + vendored("lsst-real__*")


def first_alert(packet: bytes) -> Alert:
    result = Decoder().decode(packet)[0]
    assert isinstance(result, Alert)
    return result


def test_one_scored_record_per_alert_keyed_by_object(scorer: Scorer, with_cutouts: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(with_cutouts)), FakeSink()
    processor(source, sink, scorer).run()
    scored = sink.on("rbc.scored")
    assert len(scored) == len(with_cutouts)
    for offset, (packet, record) in enumerate(zip(with_cutouts, scored, strict=True)):
        alert = first_alert(packet)
        body = decode_kafka(record.value)
        assert body["alert_id"] == str(alert.alert_id)
        assert record.key == alert.object_id.encode()
        assert body["alert_packet"] == packet
        assert body["model_version"] == scorer.info.version
        assert header(record, "rbc.source.offset") == str(offset)
        expected = float(scorer.score(triplet_from_cutouts(alert.cutouts)[None])[0])
        assert body["p_real"] == pytest.approx(expected, abs=1e-6)
        assert body["decision"] == decide(expected, scorer.info)
    assert sink.on("rbc.dead-letter") == []


def test_uncertain_alerts_go_to_labelling(scorer: Scorer, with_cutouts: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(with_cutouts)), FakeSink()
    processor(source, sink, scorer).run()
    uncertain = [r.value for r in sink.on("rbc.scored") if decode_kafka(r.value)["decision"] == "uncertain"]
    assert uncertain, "the tiny model should find some vendored alerts uncertain"
    assert [r.value for r in sink.on("rbc.labelling")] == uncertain


def test_labelling_rate_cap_holds_back_but_still_scores(scorer: Scorer, with_cutouts: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(with_cutouts)), FakeSink()
    processor(source, sink, scorer, limiter=LabellingLimiter(0.0)).run()
    assert sink.on("rbc.labelling") == []
    assert len(sink.on("rbc.scored")) == len(with_cutouts)


def test_bad_messages_go_to_dead_letter_and_the_stream_goes_on(scorer: Scorer) -> None:
    good = vendored("fink-broker__ztf_v4.02__*")[:2]
    no_cutouts = vendored("ampel-ztf__alerts_20210720_programid1_NO_CUTOUTS__*")[0]
    corrupt = b"\x07 definitely not an alert"
    truncated = good[0][: len(good[0]) // 2]
    values = [good[0], corrupt, no_cutouts, None, truncated, good[1]]
    source, sink = FakeSource.of(messages(values, partition=3)), FakeSink()
    stats = processor(source, sink, scorer).run()
    dead = sink.on("rbc.dead-letter")
    reasons = {int(header(d, "rbc.source.offset")): header(d, "rbc.error.reason") for d in dead}
    assert reasons[1] == "bad_framing"
    assert reasons[2] == "missing_cutouts"
    assert reasons[3] == "empty_message"
    assert 4 in reasons
    assert set(reasons) == {1, 2, 3, 4}
    for record in dead:
        offset = int(header(record, "rbc.source.offset"))
        assert record.value == (values[offset] or b"")  # original bytes, unchanged
        assert header(record, "rbc.source.topic") == "in"
        assert header(record, "rbc.source.partition") == "3"
        assert record.key == f"k{offset}".encode()
    assert len(sink.on("rbc.scored")) == 2
    assert stats.dead_letters == 4
    assert source.committed == {("in", 3): len(values)}


def test_multi_record_message_gives_one_record_each(scorer: Scorer) -> None:
    schema, records = read_records(sorted(ALERTS.glob("fink-broker__ztf_v4.02__*"))[0])
    packet = container(schema, records * 3)
    source, sink = FakeSource.of(messages([packet])), FakeSink()
    processor(source, sink, scorer).run()
    assert len(sink.on("rbc.scored")) == 3
    assert source.committed == {("in", 0): 1}


def test_packet_bytes_can_be_left_out(scorer: Scorer, with_cutouts: list[bytes]) -> None:
    source, sink = FakeSource.of(messages(with_cutouts[:2])), FakeSink()
    processor(source, sink, scorer, include_packet=False).run()
    assert [decode_kafka(r.value)["alert_packet"] for r in sink.on("rbc.scored")] == [None, None]


def test_metrics_and_health_given_follow_the_stream(scorer: Scorer, with_cutouts: list[bytes]) -> None:
    metrics, health = Metrics(CollectorRegistry()), HealthState()
    source, sink = FakeSource.of(messages([*with_cutouts[:3], None])), FakeSink()
    parts = collaborators(source, sink, scorer, metrics=metrics, health=health)
    StreamProcessor(settings(), parts).run()
    get = metrics.registry.get_sample_value
    consumed = [s for f in metrics.registry.collect() if f.name == "rbc_alerts_consumed" for s in f.samples]
    assert sum(s.value for s in consumed if s.name.endswith("_total")) == 4
    assert get("rbc_alerts_consumed_total", {"survey": "unknown"}) == 1  # the empty message
    assert get("rbc_decode_latency_seconds_count") == 4
    assert get("rbc_end_to_end_latency_seconds_count") == 3  # one per acknowledged scored record
    assert get("rbc_alerts_dead_lettered_total", {"survey": "unknown", "reason": "empty_message"}) == 1
    assert health.readiness().partitions == 1
    assert health.readiness().connected
