"""`rbc serve` against the real broker: /metrics after a short run, and the same p_real as `rbc score`.

The vendored real alerts (one file per message) are published to a fresh two-partition
topic; the service scores them with the tiny contract model; then its /metrics must count
exactly what went through, and the scored topic must hold, per alert, the p_real that
`rbc score` computes from the same files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.decoding import Decoder
from rbc1000.cli.score import score_files
from rbc1000.model.scoring import Scorer
from rbc1000.stream.records import decode_kafka, read_records
from tests.integration.ops_support import (
    ServeProcess,
    consume_all,
    create_topic,
    produce,
    unique,
    wait_for,
)
from tests.support.model_factory import write_tiny_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def files(vendored_alerts: Path) -> list[Path]:
    return sorted(vendored_alerts.glob("*.avro"))


@pytest.fixture(scope="module")
def counts(files: list[Path]) -> dict[str, int]:
    """Records, alerts with cutouts and alerts without, straight from the decoder."""
    out = {"records": 0, "complete": 0, "missing": 0}
    for path in files:
        for result in Decoder().decode(path.read_bytes()):
            assert isinstance(result, Alert)
            out["records"] += 1
            out["complete" if result.cutouts.complete else "missing"] += 1
    return out


@pytest.fixture(scope="module")
def run(
    bootstrap: str, files: list[Path], counts: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("ops-metrics")
    model = write_tiny_model(tmp / "tiny.onnx")
    topics = {
        "input": unique("ops-in"),
        "scored": unique("ops-scored"),
        "labelling": unique("ops-labelling"),
        "dead": unique("ops-dead"),
        "model": str(model),
    }
    create_topic(bootstrap, topics["input"], partitions=2)
    produce(bootstrap, topics["input"], (f.read_bytes() for f in files))
    serve = ServeProcess(
        tmp / "serve.log",
        {
            "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "RBC_INPUT_TOPICS": topics["input"],
            "RBC_GROUP_ID": unique("ops-group"),
            "RBC_MODEL_PATH": str(model),
            "RBC_PROVIDER": "cpu",
            "RBC_SCORED_TOPIC": topics["scored"],
            "RBC_LABELLING_TOPIC": topics["labelling"],
            "RBC_DEAD_LETTER_TOPIC": topics["dead"],
            "RBC_BATCH_SIZE": "16",
            "RBC_BATCH_MAX_WAIT_S": "0.2",
        },
    )
    try:
        wait_for(
            lambda: (
                serve.total("rbc_alerts_scored_total") + serve.total("rbc_alerts_dead_lettered_total")
                >= counts["records"]
                or not serve.alive()
            ),
            180,
            "every record scored or dead-lettered",
        )
        assert serve.alive(), serve.log()
        yield serve, topics
    finally:
        code = serve.stop()
        assert code == 0, serve.log()


def test_counters_match_what_went_through(
    run: tuple[ServeProcess, dict[str, str]], counts: dict[str, int]
) -> None:
    serve, _ = run
    assert serve.total("rbc_alerts_consumed_total") == counts["records"]
    assert serve.total("rbc_alerts_scored_total") == counts["complete"]
    assert serve.total("rbc_alerts_dead_lettered_total", reason="missing_cutouts") == counts["missing"]
    assert serve.total("rbc_alerts_dead_lettered_total") == counts["missing"]
    assert serve.total("rbc_alerts_scored_total", survey="lsst") >= 1
    uncertain = serve.total("rbc_alerts_scored_total", decision="uncertain")
    assert serve.total("rbc_alerts_labelling_total") == uncertain


def test_histograms_have_sensible_values(
    run: tuple[ServeProcess, dict[str, str]], counts: dict[str, int], files: list[Path]
) -> None:
    serve, _ = run
    assert serve.total("rbc_batch_size_alerts_sum") == counts["records"]
    batches = serve.total("rbc_batch_size_alerts_count")
    assert 1 <= batches <= counts["records"]
    assert serve.total("rbc_decode_latency_seconds_count") == len(files)  # one per message
    assert serve.total("rbc_score_latency_seconds_count") >= 1
    assert serve.total("rbc_score_latency_seconds_sum") > 0
    assert serve.total("rbc_p_real_count") == counts["complete"]
    assert serve.total("rbc_p_real_bucket", le="1.0") == counts["complete"]
    wait_for(
        lambda: serve.total("rbc_end_to_end_latency_seconds_count") == counts["complete"],
        30,
        "an end-to-end latency per acknowledged scored record",
    )
    mean_e2e = serve.total("rbc_end_to_end_latency_seconds_sum") / serve.total(
        "rbc_end_to_end_latency_seconds_count"
    )
    assert 0 <= mean_e2e < 600


def test_model_info_readiness_and_lag(run: tuple[ServeProcess, dict[str, str]]) -> None:
    serve, topics = run
    assert serve.total("rbc_model_info", name="rbc-tiny-test", provider="CPUExecutionProvider") == 1
    assert serve.total("rbc_ready") == 1
    assert serve.readyz()[0] == 200 and serve.get("/healthz")[0] == 200
    assert serve.total("rbc_model_reloads_total") == 0

    def lag_drained() -> bool:
        lags = {
            dict(ls)["partition"]: v
            for (n, ls), v in serve.samples().items()
            if n == "rbc_consumer_lag_messages" and dict(ls)["topic"] == topics["input"]
        }
        return set(lags) == {"0", "1"} and all(v == 0 for v in lags.values())

    wait_for(lag_drained, 30, "a zero lag gauge for both input partitions")


def test_scored_topic_has_the_p_real_of_rbc_score(
    run: tuple[ServeProcess, dict[str, str]],
    bootstrap: str,
    counts: dict[str, int],
    vendored_alerts: Path,
    tmp_path: Path,
) -> None:
    _, topics = run
    messages = consume_all(bootstrap, topics["scored"], counts["complete"])
    streamed: dict[str, list[float]] = defaultdict(list)
    for m in messages:
        record = decode_kafka(m.value())
        assert m.key().decode() == record["object_id"]
        streamed[record["alert_id"]].append(record["p_real"])
    scorer = Scorer.load(topics["model"], "cpu", intra_op_threads=1)
    score_files([str(vendored_alerts)], tmp_path / "scored.jsonl", scorer, 64, gallery_k=0)
    offline: dict[str, list[float]] = defaultdict(list)
    for row in read_records(tmp_path / "scored.jsonl"):
        offline[str(row["alert_id"])].append(float(row["p_real"]))
    assert sum(len(v) for v in streamed.values()) == counts["complete"]
    assert set(streamed) == set(offline)
    for alert_id, values in offline.items():
        assert sorted(streamed[alert_id]) == pytest.approx(sorted(values), abs=1e-6), alert_id
