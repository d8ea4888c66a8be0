"""The decode path in use is logged at start and exported as a metric label, and a model whose
preprocessing the compiled core lacks is served with triplets preprocessed in Python."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from rbc1000.alerts.native import DecodePath, make_batch_decoder, native_available
from rbc1000.model.preprocessing import PP_V1
from rbc1000.model.scoring import Scorer
from rbc1000.ops.metrics import Metrics
from rbc1000.stream.loop import StreamProcessor
from tests.support.kafka_fakes import (
    DECODE_PATHS,
    FakeSink,
    FakeSource,
    collaborators,
    messages,
    settings,
    vendored,
)


def decode_info(metrics: Metrics) -> dict[str, str]:
    [sample] = [s for f in metrics.registry.collect() if f.name == "rbc_decode" for s in f.samples]
    return dict(sample.labels)


@pytest.mark.parametrize("path", DECODE_PATHS)
def test_the_path_in_use_is_logged_and_exported(
    scorer: Scorer, path: DecodePath, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics(CollectorRegistry())
    source, sink = FakeSource.of(messages(vendored("fink-broker__*")[:2])), FakeSink()
    parts = collaborators(source, sink, scorer, decoder=make_batch_decoder(path), metrics=metrics)
    with caplog.at_level(logging.INFO, logger="rbc1000.stream.loop"):
        StreamProcessor(settings(), parts).run()
    assert decode_info(metrics) == {"path": path, "preprocessing": path}
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decode_in_use")]
    assert started == [
        f"decode_in_use path={path} preprocessing={path} version={scorer.info.preprocessing_version}"
    ]


@pytest.mark.skipif(not native_available(), reason="rbc1000._native is not built")
def test_a_version_the_core_lacks_is_preprocessed_in_python_and_said_so(
    scorer: Scorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rbc1000.alerts.native.native_versions", lambda: (PP_V1,))
    assert scorer.info.preprocessing_version != PP_V1
    metrics = Metrics(CollectorRegistry())
    packets = vendored("fink-broker__*")[:4]
    source, sink = FakeSource.of(messages(packets)), FakeSink()
    parts = collaborators(source, sink, scorer, decoder=make_batch_decoder("native"), metrics=metrics)
    StreamProcessor(settings(), parts).run()
    assert decode_info(metrics) == {"path": "native", "preprocessing": "python"}
    assert len(sink.on("rbc.scored")) == len(packets)
