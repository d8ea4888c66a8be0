"""`rbc replay`'s core: pacing at the asked rate, one message per file (container framing),
one Confluent frame per record that the service's decoder reads back."""

from __future__ import annotations

import pytest

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.stream.replay import Outgoing, framing_schema, iter_outgoing, replay
from tests.support.kafka_fakes import ALERTS, FakeClock, FakeSink


def test_paces_messages_at_the_rate() -> None:
    clock, sleeps = FakeClock(), []

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock.now += s

    sink = FakeSink()
    msgs = [Outgoing(b"k", b"v%d" % i) for i in range(5)]
    stats = replay(msgs, sink, "t", rate_per_s=10.0, clock=clock, sleep=sleep)
    assert stats.messages == stats.acknowledged == 5
    assert sum(sleeps) == pytest.approx(0.4)  # message i leaves at i / 10 s
    assert [r.value for r in sink.records] == [m.value for m in msgs]


def test_container_framing_sends_files_unchanged() -> None:
    paths = sorted(ALERTS.glob("fink-broker__ztf_v4.02__*"))[:3]
    out = list(iter_outgoing(paths))
    assert [o.value for o in out] == [p.read_bytes() for p in paths]
    assert [o.key for o in out] == [p.name.encode() for p in paths]


def test_confluent_frames_decode_to_the_same_alerts() -> None:
    paths = sorted(ALERTS.glob("lsst-real__*"))
    frames = list(iter_outgoing(paths, "confluent", 900, framing_schema(900)))
    assert len(frames) == len(paths)
    decoder = Decoder()
    for path, frame in zip(paths, frames, strict=True):
        assert frame.value[:5] == b"\x00\x00\x00\x03\x84"  # magic 0, schema id 900
        (direct,), (framed,) = decoder.decode(path.read_bytes()), decoder.decode(frame.value)
        assert isinstance(direct, Alert) and isinstance(framed, Alert)
        assert framed.alert_id == direct.alert_id
        assert framed.cutouts == direct.cutouts


def test_files_that_do_not_fit_the_schema_are_skipped() -> None:
    skipped: list[str] = []
    ztf = sorted(ALERTS.glob("fink-broker__ztf_v4.02__*"))[:1]
    out = list(
        iter_outgoing(
            ztf, "confluent", 900, framing_schema(900), on_skip=lambda path, reason: skipped.append(reason)
        )
    )
    assert out == [] and len(skipped) == 1 and "schema id 900" in skipped[0]
