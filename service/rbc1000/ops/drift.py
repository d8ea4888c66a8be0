"""Score drift: each survey's recent `p_real` against the reference histogram its model carries.

A model's policy (`rbc1000.model.policy.SurveyPolicy`) holds, per survey, the `p_real`
histogram of the evaluation set its threshold was chosen on (`reference_edges`,
`reference_counts`). `DriftMonitor` keeps, per survey, the scores of a sliding window (the
last `DriftWindow.alerts` scores, and with `DriftWindow.seconds` > 0 none older than that)
binned on the reference's edges, and compares the window with the reference by the
population stability index

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

where e_i and a_i are the reference's and the window's shares of bin i. PSI rather than the
Kolmogorov-Smirnov statistic: the reference travels as a binned histogram, not as scores, and
PSI is defined on bins, sums a term per bin (so a panel can show where the shift is), and
weighs a change in a sparse tail (the real alerts near 1) more than KS, whose maximum gap
sits where the mass is. An empty bin would make ln(a/e) infinite, so shares are floored at
`EPSILON` (1e-4, a fifth of one alert in a 5,000-alert window). The usual reading:
below `PSI_WATCH` (0.1) no meaningful shift, 0.1 to `PSI_ALERT` (0.25) a moderate shift
worth a look, above 0.25 a major shift: the threshold and band the model was validated with
no longer describe what it sees (a new survey field, a camera or pipeline change, a broken
upstream stage). PSI of a finite window is biased upwards by about (bins - 1) / n, so
`deploy/prometheus/alerts.yml` fires only over a full enough window.

A survey whose model carries no reference (a legacy model, or a policy without histograms)
gets no drift statistic: its `rbc_p_real_drift_psi` series is absent, not zero. A model
reload changes the reference, so `set_policy` starts that survey's window (and its
cumulative histogram) afresh. In the window scores are binned like `numpy.histogram`, as the
reference was: [e_i, e_i+1), the last bin closed, a score outside the edges in the nearest end
bin; the exported histogram counts p <= le, as Prometheus buckets do.

Exported, per survey: `rbc_p_real` (a Prometheus histogram on the reference's edges, cumulative
since the reference was set; a survey without a reference uses 20 bins of 0.05),
`rbc_p_real_drift_psi` and `rbc_p_real_drift_window_alerts` (scores in the window).
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from rbc1000.model.policy import ModelPolicy, SurveyPolicy

EPSILON = 1e-4
PSI_WATCH = 0.1
PSI_ALERT = 0.25
DEFAULT_WINDOW_ALERTS = 5_000
DEFAULT_EDGES = tuple(round(0.05 * i, 2) for i in range(21))

P_REAL = "rbc_p_real"
PSI = "rbc_p_real_drift_psi"
WINDOW = "rbc_p_real_drift_window_alerts"


def psi(reference: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON) -> float:
    """Population stability index of `actual` against `reference` (counts or shares, same bins).

    Each side is normalised to shares and every share floored at `epsilon`; 0 when they agree.
    """
    if len(reference) != len(actual) or not reference:
        raise ValueError(f"need the same number of bins, got {len(reference)} and {len(actual)}")
    ref_total, act_total = float(sum(reference)), float(sum(actual))
    if ref_total <= 0 or act_total <= 0:
        raise ValueError("a histogram without counts has no shares")
    total = 0.0
    for ref, act in zip(reference, actual, strict=True):
        e = max(ref / ref_total, epsilon)
        a = max(act / act_total, epsilon)
        total += (a - e) * math.log(a / e)
    return total


def bin_of(edges: Sequence[float], p_real: float) -> int:
    """The bin of a score on `edges`, as `numpy.histogram` bins; outside scores go to an end bin."""
    return min(max(bisect_right(edges, p_real) - 1, 0), len(edges) - 2)


@dataclass(frozen=True)
class DriftWindow:
    """The window drift is measured over: the last `alerts` scores, none older than `seconds`
    when `seconds` > 0."""

    alerts: int = DEFAULT_WINDOW_ALERTS
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.alerts < 1 or self.seconds < 0:
            raise ValueError(f"need alerts >= 1 and seconds >= 0, got {self.alerts}, {self.seconds}")


class _SurveyScores:
    """One survey: its edges and reference, the window's bins, and the cumulative histogram."""

    def __init__(self, policy: SurveyPolicy | None) -> None:
        self.policy = policy
        usable = policy is not None and _usable(policy.reference_edges, policy.reference_counts)
        self.edges = policy.reference_edges if policy is not None and usable else DEFAULT_EDGES
        self.reference = policy.reference_counts if policy is not None and usable else None
        self.window: deque[tuple[float, int]] = deque()
        self.window_counts = [0] * (len(self.edges) - 1)
        # Prometheus buckets count p <= le: slot i is (edges[i], edges[i+1]], the last slot
        # what lies above the last edge (only in +Inf).
        self.buckets = [0] * len(self.edges)
        self.total = 0.0

    def add(self, now: float, p_real: float, window: DriftWindow) -> None:
        index = bin_of(self.edges, p_real)
        self.window.append((now, index))
        self.window_counts[index] += 1
        self.buckets[bisect_left(self.edges, p_real, lo=1) - 1] += 1
        self.total += p_real
        while len(self.window) > window.alerts:
            self.window_counts[self.window.popleft()[1]] -= 1

    def expire(self, now: float, window: DriftWindow) -> None:
        if window.seconds <= 0:
            return
        while self.window and self.window[0][0] < now - window.seconds:
            self.window_counts[self.window.popleft()[1]] -= 1

    def psi(self) -> float | None:
        if self.reference is None or not self.window or sum(self.reference) <= 0:
            return None
        return psi(self.reference, self.window_counts)


class DriftMonitor(Collector):
    """Per-survey score windows against the serving model's references, as Prometheus metrics.

    `observe` is called once per scored alert on the scoring thread; `collect` runs on the
    metrics server's thread, so both hold the lock.
    """

    def __init__(
        self,
        surveys: Iterable[str] = (),
        window: DriftWindow | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window if window is not None else DriftWindow()
        self._clock = clock
        self._lock = threading.Lock()
        self._surveys: dict[str, _SurveyScores] = {s: _SurveyScores(None) for s in surveys}

    def set_policy(self, policy: ModelPolicy) -> None:
        """Take up the policy of everything that serves now, at start and after a reload.

        A survey whose policy changed starts a new window on its new reference (on the default
        edges, with no drift statistic, where it has none); one whose policy is unchanged (its
        model was not the one reloaded) keeps its window. A survey the policy does not declare
        is not judged any more: it loses its reference.
        """
        with self._lock:
            for survey, scores in list(self._surveys.items()):
                if survey not in policy.surveys and scores.policy is not None:
                    self._surveys[survey] = _SurveyScores(None)
            for survey, body in policy.surveys.items():
                known = self._surveys.get(survey)
                if known is None or known.policy != body:
                    self._surveys[survey] = _SurveyScores(body)

    def observe(self, survey: str, p_real: float) -> None:
        """Add one scored alert's p_real to its survey's window and histogram."""
        with self._lock:
            scores = self._surveys.get(survey)
            if scores is None:
                scores = self._surveys[survey] = _SurveyScores(None)
            scores.add(self._clock(), p_real, self.window)

    def state(self, survey: str) -> tuple[list[int], float | None]:
        """The window's counts per bin and its PSI (None without a reference) for one survey."""
        with self._lock:
            scores = self._surveys[survey]
            scores.expire(self._clock(), self.window)
            return list(scores.window_counts), scores.psi()

    def describe(self) -> Iterable[Metric]:
        return _families()

    def collect(self) -> Iterable[Metric]:
        histogram, drift, window = _families()
        with self._lock:
            now = self._clock()
            for survey, scores in sorted(self._surveys.items()):
                scores.expire(now, self.window)
                histogram.add_metric([survey], _buckets(scores), scores.total)
                window.add_metric([survey], float(len(scores.window)))
                value = scores.psi()
                if value is not None:
                    drift.add_metric([survey], value)
        return [histogram, drift, window]


def _usable(edges: Sequence[float], counts: Sequence[int]) -> bool:
    """A reference to measure against: counts, and edges that rise (bins depend on it)."""
    rising = all(low < high for low, high in pairwise(edges))
    return bool(counts) and sum(counts) > 0 and len(edges) == len(counts) + 1 and rising


def _families() -> tuple[HistogramMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        HistogramMetricFamily(
            P_REAL,
            "Model score p_real (probability of a real source) of scored alerts, by survey, on the "
            "edges of the model's reference histogram, since that model started serving",
            labels=["survey"],
        ),
        GaugeMetricFamily(
            PSI,
            "Population stability index of the survey's p_real window against the model's "
            "reference histogram (0.1: moderate shift, 0.25: major); absent without a reference",
            labels=["survey"],
        ),
        GaugeMetricFamily(WINDOW, "Scored alerts in the survey's drift window", labels=["survey"]),
    )


def _le(upper: float) -> str:
    """An edge as a bucket label, as Histogram writes it (0.05, 1.0); edges from linspace
    lose their float noise (0.15000000000000002 -> 0.15), a shift far below any score's
    precision."""
    return "+Inf" if math.isinf(upper) else repr(float(f"{upper:.10g}"))


def _buckets(scores: _SurveyScores) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs on the upper edges, ending with +Inf."""
    buckets: list[tuple[str, float]] = []
    running = 0
    for upper, count in zip(scores.edges[1:], scores.buckets, strict=False):
        running += count
        buckets.append((_le(upper), float(running)))
    if not math.isinf(scores.edges[-1]):
        buckets.append(("+Inf", float(running + scores.buckets[-1])))
    return buckets
