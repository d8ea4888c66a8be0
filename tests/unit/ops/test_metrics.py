"""Metrics names and values, and the /metrics, /healthz and /readyz endpoints."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from rbc1000.model.policy import ModelPolicy, SurveyEvaluation, SurveyPolicy
from rbc1000.ops.health import HealthServer, HealthState, NullHealth
from rbc1000.ops.metrics import DECISIONS, METRIC_NAMES, NULL_METRICS, SURVEYS, Metrics, NullMetrics
from rbc1000.reasons import Reason
from tests.support.model_factory import tiny_info


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_every_documented_name_is_registered_with_prefix() -> None:
    metrics = Metrics(CollectorRegistry())
    evaluation = SurveyEvaluation(set_name="test", fingerprint="f", n=2, labels="proxy")
    reference = SurveyPolicy(0.5, (0.3, 0.7), evaluation, (0.0, 0.5, 1.0), (1, 1))
    metrics.set_model(tiny_info(), "CPUExecutionProvider", ModelPolicy(surveys={"ztf": reference}))
    metrics.observe_p_real("ztf", 0.9)
    metrics.set_lag("ztf_20250101_programid1", 0, 5)
    metrics.consumed.labels(survey="ztf").inc()
    metrics.scored.labels(survey="ztf", decision="real").inc()
    metrics.labelling.labels(survey="ztf", outcome="routed").inc()
    metrics.dead_lettered.labels(survey="unknown", reason="bad_avro").inc()
    exposed = {s.name for fam in metrics.registry.collect() for s in fam.samples}
    for name in METRIC_NAMES:
        assert name.startswith("rbc_")
        assert any(s == name or s.startswith(name + "_") for s in exposed), name


def test_lag_gauge_and_forgetting_a_partition() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.set_lag("t", 3, 120)
    metrics.set_lag("t", 4, -2)
    get = metrics.registry.get_sample_value
    assert get("rbc_consumer_lag_messages", {"topic": "t", "partition": "3"}) == 120.0
    assert get("rbc_consumer_lag_messages", {"topic": "t", "partition": "4"}) == 0.0
    metrics.forget_partition("t", 3)
    metrics.forget_partition("t", 99)
    assert get("rbc_consumer_lag_messages", {"topic": "t", "partition": "3"}) is None


def test_model_info_replaced_on_reload() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.set_model(tiny_info(version="1"), "CPUExecutionProvider")
    metrics.set_model(tiny_info(version="2"), "CUDAExecutionProvider")
    samples = [s for fam in metrics.registry.collect() if fam.name == "rbc_model" for s in fam.samples]
    assert [s.labels["version"] for s in samples] == ["2"]
    assert samples[0].labels["provider"] == "CUDAExecutionProvider"


def test_readiness_needs_all_three_conditions() -> None:
    state = HealthState()
    assert not state.readiness().ready
    state.set_connected(True)
    state.set_partitions(2)
    assert state.readiness().missing() == ["model_loaded"]
    state.set_model_loaded(True)
    assert state.readiness().ready
    state.set_partitions(0)
    assert state.readiness().missing() == ["partitions_assigned"]


def test_liveness_fails_when_the_loop_stalls() -> None:
    now = [0.0]
    state = HealthState(stall_after_s=10.0, clock=lambda: now[0])
    assert state.alive()
    now[0] = 11.0
    assert not state.alive()
    state.beat()
    assert state.alive()


def test_null_metrics_record_into_a_registry_of_their_own() -> None:
    served = Metrics(CollectorRegistry())
    null = NullMetrics()
    null.scored.labels(survey="ztf", decision="real").inc()
    null.set_lag("t", 0, 5)
    null.forget_partition("t", 0)
    assert isinstance(NULL_METRICS, Metrics)
    assert len({id(null.registry), id(NULL_METRICS.registry), id(served.registry)}) == 3
    assert (
        served.registry.get_sample_value("rbc_alerts_scored_total", {"survey": "ztf", "decision": "real"})
        == 0
    )


def test_null_health_is_a_health_state_without_stall_limit() -> None:
    state = NullHealth()
    state.set_connected(True)
    state.set_partitions(1)
    state.set_model_loaded(True)
    state.beat()
    assert state.readiness().ready
    assert state.alive()


@pytest.fixture()
def served() -> Iterator[tuple[HealthState, Metrics, str]]:
    metrics = Metrics(CollectorRegistry())
    state = HealthState(on_change=lambda ready: metrics.ready.set(int(ready)))
    with HealthServer(state, metrics.registry, host="127.0.0.1", port=0) as server:
        yield state, metrics, f"http://127.0.0.1:{server.port}"


def test_http_endpoints(served: tuple[HealthState, Metrics, str]) -> None:
    state, metrics, base = served
    assert _get(base + "/healthz")[0] == 200
    code, body = _get(base + "/readyz")
    assert code == 503 and "model_loaded" in json.loads(body)["missing"]
    state.set_connected(True)
    state.set_partitions(1)
    state.set_model_loaded(True)
    assert _get(base + "/readyz")[0] == 200
    metrics.scored.labels(survey="lsst", decision="bogus").inc(3)
    code, body = _get(base + "/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    scored = [s for s in families["rbc_alerts_scored"].samples if s.name.endswith("_total")]
    counts = {(s.labels["survey"], s.labels["decision"]): s.value for s in scored}
    assert counts[("lsst", "bogus")] == 3 and counts[("ztf", "real")] == 0
    assert families["rbc_ready"].samples[0].value == 1.0
    assert _get(base + "/nope")[0] == 404


def test_known_series_exist_at_zero_from_the_start() -> None:
    metrics = Metrics(CollectorRegistry())
    get = metrics.registry.get_sample_value
    for survey in SURVEYS:
        for decision in DECISIONS:
            assert get("rbc_alerts_scored_total", {"survey": survey, "decision": decision}) == 0
        for reason in Reason:
            assert get("rbc_alerts_dead_lettered_total", {"survey": survey, "reason": reason.value}) == 0
        assert get("rbc_alerts_consumed_total", {"survey": survey}) == 0
        assert get("rbc_alerts_labelling_total", {"survey": survey, "outcome": "routed"}) == 0
