"""The drift statistic (PSI), the per-survey window, and what the monitor exports."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rbc1000.model.policy import ModelPolicy, SurveyEvaluation, SurveyPolicy
from rbc1000.ops.drift import EPSILON, PSI, PSI_ALERT, WINDOW, DriftMonitor, DriftWindow, bin_of, psi
from rbc1000.ops.metrics import Metrics
from tests.support.model_factory import tiny_info


def _policy(**references: tuple[tuple[float, ...], tuple[int, ...]]) -> ModelPolicy:
    evaluation = SurveyEvaluation(set_name="test", fingerprint="f", n=100, labels="proxy: test")
    return ModelPolicy(
        surveys={
            survey: SurveyPolicy(0.5, (0.3, 0.7), evaluation, reference_edges=edges, reference_counts=counts)
            for survey, (edges, counts) in references.items()
        }
    )


HALVES = ((0.0, 0.5, 1.0), (50, 50))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_psi_by_hand() -> None:
    assert psi([50, 50], [50, 50]) == 0.0
    # shares .5/.5 against .9/.1: .4 ln(.9/.5) + (-.4) ln(.1/.5) = .4 ln 9
    assert psi([50, 50], [90, 10]) == pytest.approx(0.8788898, abs=1e-7)
    # shares .25 x 4 against .30/.25/.25/.20: .05 ln 1.2 - .05 ln .8 (below the 0.1 "watch" line)
    assert psi([25, 25, 25, 25], [30, 25, 25, 20]) == pytest.approx(0.0202733, abs=1e-7)
    # counts or shares give the same; swapping the sides gives the same (the sum is symmetric)
    assert psi([0.25] * 4, [0.3, 0.25, 0.25, 0.2]) == pytest.approx(psi([30, 25, 25, 20], [25] * 4))


def test_psi_floors_an_empty_bin_at_epsilon() -> None:
    # .5 ln 2 + (1e-4 - .5) ln(1e-4 / .5): finite, and large
    assert EPSILON == 1e-4
    assert psi([1, 1], [1, 0]) == pytest.approx(4.6043185, abs=1e-6)
    with pytest.raises(ValueError):
        psi([1, 1], [1, 1, 1])
    with pytest.raises(ValueError):
        psi([0, 0], [1, 1])


def test_bins_match_numpy_histogram_on_uneven_edges() -> None:
    edges = (0.0, 0.1, 0.15, 0.5, 0.9, 1.0)
    scores = np.concatenate([np.random.default_rng(3).random(500), np.array(edges)])
    counts = np.bincount([bin_of(edges, float(p)) for p in scores], minlength=len(edges) - 1)
    assert counts.tolist() == np.histogram(scores, bins=edges)[0].tolist()
    assert bin_of(edges, -0.5) == 0 and bin_of(edges, 7.0) == len(edges) - 2


def test_window_keeps_the_last_n_scores() -> None:
    monitor = DriftMonitor(window=DriftWindow(alerts=4))
    monitor.set_policy(_policy(ztf=HALVES))
    for p in (0.9, 0.9, 0.1, 0.1, 0.1, 0.1):
        monitor.observe("ztf", p)
    counts, value = monitor.state("ztf")
    assert counts == [4, 0]  # the two 0.9s have left the window
    assert value == pytest.approx(psi([50, 50], [4, 0]))


def test_time_window_drops_old_scores() -> None:
    clock = Clock()
    monitor = DriftMonitor(window=DriftWindow(alerts=100, seconds=60), clock=clock)
    monitor.set_policy(_policy(ztf=HALVES))
    monitor.observe("ztf", 0.9)
    clock.now += 30
    monitor.observe("ztf", 0.1)
    assert monitor.state("ztf")[0] == [1, 1]
    clock.now += 45  # the first score is 75 s old, the second 45 s
    assert monitor.state("ztf")[0] == [1, 0]
    clock.now += 60
    assert monitor.state("ztf") == ([0, 0], None)  # an empty window has no statistic


def test_a_new_reference_restarts_the_window_and_only_that_one() -> None:
    monitor = DriftMonitor(window=DriftWindow(alerts=10))
    monitor.set_policy(_policy(ztf=HALVES, lsst=HALVES))
    monitor.observe("ztf", 0.9)
    monitor.observe("lsst", 0.9)
    # the ztf model is reloaded with a new reference; lsst's model is unchanged
    monitor.set_policy(_policy(ztf=((0.0, 0.25, 0.5, 1.0), (10, 10, 80)), lsst=HALVES))
    counts, value = monitor.state("ztf")
    assert counts == [0, 0, 0] and value is None
    monitor.observe("ztf", 0.3)
    assert monitor.state("ztf")[0] == [0, 1, 0]
    assert monitor.state("lsst")[0] == [0, 1]  # kept: the one lsst score is still there
    # a set that no longer judges lsst: no reference, no statistic
    monitor.set_policy(_policy(ztf=((0.0, 0.25, 0.5, 1.0), (10, 10, 80))))
    assert monitor.state("lsst") == ([0] * 20, None)
    assert monitor.state("ztf")[0] == [0, 1, 0]


def test_no_reference_no_statistic() -> None:
    registry = CollectorRegistry()
    monitor = DriftMonitor(["ztf", "lsst"])
    registry.register(monitor)
    legacy = _policy(ztf=((), ()))
    monitor.set_policy(legacy)
    monitor.observe("ztf", 0.7)
    assert monitor.state("ztf")[1] is None
    assert registry.get_sample_value(PSI, {"survey": "ztf"}) is None
    assert registry.get_sample_value(WINDOW, {"survey": "ztf"}) == 1.0
    # without a reference the histogram keeps the default 20 bins of 0.05
    assert registry.get_sample_value("rbc_p_real_bucket", {"survey": "ztf", "le": "0.7"}) == 1.0
    assert registry.get_sample_value("rbc_p_real_bucket", {"survey": "ztf", "le": "0.65"}) == 0.0


def test_metrics_export_histogram_on_reference_edges_and_psi() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.set_model(tiny_info(), "CPUExecutionProvider", _policy(ztf=HALVES))
    for p in [0.95] * 9 + [0.05]:
        metrics.observe_p_real("ztf", p)
    metrics.observe_p_real("lsst", 0.2)
    get = metrics.registry.get_sample_value
    assert get("rbc_p_real_bucket", {"survey": "ztf", "le": "0.5"}) == 1.0
    assert get("rbc_p_real_bucket", {"survey": "ztf", "le": "1.0"}) == 10.0
    assert get("rbc_p_real_bucket", {"survey": "ztf", "le": "+Inf"}) == 10.0
    assert get("rbc_p_real_sum", {"survey": "ztf"}) == pytest.approx(8.6)
    assert get(PSI, {"survey": "ztf"}) == pytest.approx(0.8788898, abs=1e-7)
    assert get(WINDOW, {"survey": "ztf"}) == 10.0
    assert get(PSI, {"survey": "lsst"}) is None  # the model declares no lsst reference
    # the exposition parses, so Prometheus can scrape it
    text = generate_latest(metrics.registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["rbc_p_real"].type == "histogram"
    assert families[PSI].type == "gauge"
    # a single file's watcher says nothing of the set: the references stay
    metrics.set_model(tiny_info(version="2"), "CPUExecutionProvider")
    assert get(PSI, {"survey": "ztf"}) == pytest.approx(0.8788898, abs=1e-7)
    # a legacy model (no reference) takes over: new window, no statistic
    metrics.set_model(tiny_info(version="3"), "CPUExecutionProvider", _policy(ztf=((), ())))
    assert get(PSI, {"survey": "ztf"}) is None
    assert get("rbc_p_real_count", {"survey": "ztf"}) == 0.0


def test_bucket_labels_lose_the_float_noise_of_linspace_edges() -> None:
    registry = CollectorRegistry()
    monitor = DriftMonitor()
    registry.register(monitor)
    edges = tuple(float(e) for e in np.linspace(0.0, 1.0, 21))
    assert repr(edges[3]) == "0.15000000000000002"
    monitor.set_policy(_policy(ztf=(edges, (1,) * 20)))
    monitor.observe("ztf", 0.12)
    assert registry.get_sample_value("rbc_p_real_bucket", {"survey": "ztf", "le": "0.15"}) == 1.0
    assert registry.get_sample_value("rbc_p_real_bucket", {"survey": "ztf", "le": "0.1"}) == 0.0


def test_window_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        DriftWindow(alerts=0)
    with pytest.raises(ValueError):
        DriftWindow(seconds=-1.0)
    assert not math.isnan(psi([1], [1]))


DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _exported() -> set[str]:
    """Every sample name Metrics exposes, suffixes included."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}
    families = Metrics(CollectorRegistry()).registry.collect()
    return {f.name + s for f in families for s in ("", *suffixes.get(f.type, ()))}


def test_alert_rule_watches_the_exported_psi_and_prometheus_loads_it() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    (rule,) = [r for g in rules["groups"] for r in g["rules"] if r["alert"] == "RbcScoreDrift"]
    expr = rule["expr"]
    used = set(re.findall(r"\brbc_[a-z_]+", expr))
    assert PSI in used and used <= _exported(), used - _exported()
    threshold = re.search(rf"{PSI}\s*>\s*([0-9.]+)", expr)
    assert threshold is not None and float(threshold.group(1)) == PSI_ALERT
    assert rule["for"] == "30m"
    assert "{{ $labels.survey }}" in rule["annotations"]["summary"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert "alerts.yml" in prometheus["rule_files"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert (
        "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro"
        in compose["services"]["prometheus"]["volumes"]
    )
    assert re.search(r"^COPY .*alerts\.yml", (DEPLOY / "prometheus" / "Dockerfile").read_text(), re.M)


def test_dashboard_shows_each_surveys_histogram_and_psi() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "rbc-service.json").read_text())
    exprs = {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}
    (histogram,) = [p for p in dashboard["panels"] if p.get("repeat") == "survey"]
    assert 'rbc_p_real_bucket{survey="$survey"}' in histogram["targets"][0]["expr"]
    assert any(PSI in e and "survey" in e for es in exprs.values() for e in es)
    assert any(WINDOW in e for es in exprs.values() for e in es)
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "survey"]
    assert "rbc_p_real_count" in variable["query"]["query"] and "rbc_p_real_count" in _exported()
