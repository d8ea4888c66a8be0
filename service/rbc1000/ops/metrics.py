"""Prometheus metrics of the scoring service, defined once.

Every name has the `rbc_` prefix and its unit as a suffix; label values come from small
fixed sets (survey: ztf, lsst, wfst, unknown; decision: real, bogus, uncertain; dead-letter
reason: the decoder's short error kinds; partitions of the input topics), so the number of
series stays bounded. Build one `Metrics` per process around a `CollectorRegistry` passed
in (tests pass a fresh one), never a module-level singleton. Code that records always gets a
`Metrics`: where nothing serves /metrics (`rbc score`, tests, benchmarks) it gets a
`NullMetrics`, so no caller tests for None.

Who records what: `rbc1000.model.decisions.score_batch` records batch sizes, preprocessing and
scoring latency, `p_real` (`observe_p_real`, by survey, into the drift monitor of
`rbc1000.ops.drift`, which also exports the drift statistic against the model's reference)
and the scored / labelling / dead-letter counters of the alerts it sees; `set_model`, at start
and at every accepted reload, hands the monitor the serving model's references; the run
loop records what only it knows (messages consumed, decode latency, end-to-end latency,
consumer lag, dead letters that never reach the batch function, such as undecodable
messages).
"""

from __future__ import annotations

import contextlib
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from rbc1000.model.contract import ModelInfo
from rbc1000.model.policy import ModelPolicy
from rbc1000.ops.drift import DriftMonitor, DriftWindow
from rbc1000.reasons import Reason

UNKNOWN_SURVEY = "unknown"
# The label values known in advance; their series exist at zero from the start, so a
# dashboard's rate() has no gap after a restart.
SURVEYS = ("ztf", "lsst", "wfst", UNKNOWN_SURVEY)
DECISIONS = ("real", "bogus", "uncertain")
LABELLING_OUTCOMES = ("routed", "rate_limited")
ReloadOutcome = Literal["accepted", "refused", "rolled_back"]
RELOAD_OUTCOMES: tuple[ReloadOutcome, ...] = ("accepted", "refused", "rolled_back")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
E2E_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)

# The names, for dashboards and tests; the exposition adds _total / _bucket / _info suffixes.
METRIC_NAMES = (
    "rbc_alerts_consumed_total",
    "rbc_alerts_scored_total",
    "rbc_alerts_labelling_total",
    "rbc_alerts_dead_lettered_total",
    "rbc_alerts_unscored_total",
    "rbc_batch_size_alerts",
    "rbc_decode_latency_seconds",
    "rbc_preprocess_latency_seconds",
    "rbc_score_latency_seconds",
    "rbc_end_to_end_latency_seconds",
    "rbc_consumer_lag_messages",
    "rbc_p_real",
    "rbc_p_real_drift_psi",
    "rbc_p_real_drift_window_alerts",
    "rbc_model_info",
    "rbc_decode_info",
    "rbc_model_reloads_total",
    "rbc_ready",
)


class Metrics:
    """All the service's metrics, registered in the given registry."""

    def __init__(self, registry: CollectorRegistry, drift_window: DriftWindow | None = None) -> None:
        self.registry = registry
        self.drift = DriftMonitor(SURVEYS, drift_window)
        registry.register(self.drift)
        self._register_counts(registry)
        self._register_latencies(registry)
        self._register_state(registry)
        self._initialise_counts()

    def _initialise_counts(self) -> None:
        """Create the counters' known series at zero."""
        for survey in SURVEYS:
            self.consumed.labels(survey=survey)
            self.unscored.labels(survey=survey)
            for decision in DECISIONS:
                self.scored.labels(survey=survey, decision=decision)
            for outcome in LABELLING_OUTCOMES:
                self.labelling.labels(survey=survey, outcome=outcome)
            for reason in Reason:
                self.dead_lettered.labels(survey=survey, reason=reason.value)

    def _register_counts(self, registry: CollectorRegistry) -> None:
        """Alerts by what became of them."""
        self.consumed = Counter(
            "rbc_alerts_consumed",
            "Alert records read from the input (decoded or not), by survey",
            ["survey"],
            registry=registry,
        )
        self.scored = Counter(
            "rbc_alerts_scored",
            "Alerts scored, by survey and decision",
            ["survey", "decision"],
            registry=registry,
        )
        self.labelling = Counter(
            "rbc_alerts_labelling",
            "Labelling candidates (uncertain, or drawn for the random share) by survey and outcome: "
            "routed to labelling or held back by the rate cap",
            ["survey", "outcome"],
            registry=registry,
        )
        self.unscored = Counter(
            "rbc_alerts_unscored",
            "Alerts of a survey no loaded model is validated for: published without a verdict",
            ["survey"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "rbc_alerts_dead_lettered",
            "Alerts or messages sent to the dead-letter output, by survey and reason",
            ["survey", "reason"],
            registry=registry,
        )

    def _register_latencies(self, registry: CollectorRegistry) -> None:
        """Batch sizes, stage latencies and the distribution of scores."""
        self.batch_size = Histogram(
            "rbc_batch_size_alerts", "Alerts per scoring batch", buckets=BATCH_BUCKETS, registry=registry
        )
        self.decode_latency = Histogram(
            "rbc_decode_latency_seconds",
            "Time to decode one message (its share of the batch decoded with it, triplets included)",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.preprocess_latency = Histogram(
            "rbc_preprocess_latency_seconds",
            "Time to build the triplets of one batch",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.score_latency = Histogram(
            "rbc_score_latency_seconds",
            "Time of one ONNX scoring call (one batch)",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.end_to_end_latency = Histogram(
            "rbc_end_to_end_latency_seconds",
            "From the input message timestamp to the scored record acknowledged",
            buckets=E2E_BUCKETS_S,
            registry=registry,
        )

    def _register_state(self, registry: CollectorRegistry) -> None:
        """What serves now: lag per partition, the model, reloads, readiness."""
        self.consumer_lag = Gauge(
            "rbc_consumer_lag_messages",
            "High watermark minus position, per assigned input partition",
            ["topic", "partition"],
            registry=registry,
        )
        self.model_info = Info(
            "rbc_model", "The model serving now and its execution provider", registry=registry
        )
        self.decode_info = Info(
            "rbc_decode",
            "The decode path in use (native: the compiled core, python: the reference) and the code "
            "that preprocesses the model's stamps (native or python)",
            registry=registry,
        )
        self.model_reloads = Counter(
            "rbc_model_reloads", "Model file changes seen, by outcome", ["outcome"], registry=registry
        )
        self.ready = Gauge(
            "rbc_ready", "1 when connected, partitions assigned and a model loaded", registry=registry
        )
        for outcome in RELOAD_OUTCOMES:
            self.model_reloads.labels(outcome=outcome)

    def set_model(self, info: ModelInfo, provider: str, policy: ModelPolicy | None = None) -> None:
        """Publish which model and execution provider serve now, and with `policy` (every
        survey's, from the model that judges it) the drift references; None leaves them to the
        caller that knows the whole set (a single file's watcher does not)."""
        self.model_info.info({"name": info.name, "version": info.version, "provider": provider})
        if policy is not None:
            self.drift.set_policy(policy)

    def observe_p_real(self, survey: str, p_real: float) -> None:
        """Record one scored alert's p_real in its survey's histogram and drift window."""
        self.drift.observe(survey, p_real)

    def set_decode(self, path: str, preprocessing: str) -> None:
        """Publish which decode path runs and which code preprocesses (each native or python)."""
        self.decode_info.info({"path": path, "preprocessing": preprocessing})

    def model_reload(self, outcome: ReloadOutcome) -> None:
        """Count one model file change that was taken up or refused, or a model rolled back
        to the one before it after it failed on the stream."""
        self.model_reloads.labels(outcome=outcome).inc()

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """Record the lag of one assigned partition."""
        self.consumer_lag.labels(topic=topic, partition=str(partition)).set(max(lag, 0))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop the lag series of a partition this consumer no longer owns."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(topic, str(partition))


class NullMetrics(Metrics):
    """The null object: a full `Metrics` on a registry of its own that nothing serves.

    Recording into it works and costs what recording costs; nobody ever reads the values, so
    one instance may be shared by every caller that has no /metrics endpoint.
    """

    def __init__(self) -> None:
        super().__init__(CollectorRegistry())


# The default of functions that record; sharing it is harmless because it is never read.
NULL_METRICS = NullMetrics()
