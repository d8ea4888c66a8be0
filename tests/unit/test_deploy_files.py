"""The Dockerfile, compose stack, Prometheus and Grafana files agree with the code they run.

Docker does not run here, so these tests check what can be checked without a daemon: the
image's entry command is the `rbc serve` the integration tests run, the compose commands and
environment are accepted by the service's own argument parser and settings, and the
dashboard only queries metrics the service exports.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from rbc1000.cli.main import COMMANDS
from rbc1000.ops.metrics import METRIC_NAMES
from rbc1000.ops.settings import ServeSettings, load_settings
from tests.integration.ops_support import SERVE_ARGV

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec form (JSON list), got {args}"
    return [str(v) for v in value]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _parse(command: str, argv: list[str]) -> argparse.Namespace:
    """Parse `argv` with the real sub-command parser of `rbc <command>`."""
    import importlib

    parser = argparse.ArgumentParser(prog=f"rbc {command}", exit_on_error=False)
    importlib.import_module(COMMANDS[command][0]).configure(parser)
    return parser.parse_args(argv)


def test_image_runs_the_serve_command_the_integration_tests_run() -> None:
    ins = _instructions()
    entry = _exec_form(next(a for w, a in ins if w == "ENTRYPOINT"))
    cmd = _exec_form(next(a for w, a in ins if w == "CMD"))
    assert [*entry, *cmd] == SERVE_ARGV
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[entry[0]] == "rbc1000.cli.main:main"


def test_image_is_slim_non_root_and_checks_health() -> None:
    ins = _instructions()
    text = DOCKERFILE.read_text()
    users = [a for w, a in ins if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = next(a for w, a in ins if w == "HEALTHCHECK")
    assert "/healthz" in health
    exposed = [int(a) for w, a in ins if w == "EXPOSE"]
    assert exposed == [ServeSettings.model_fields["metrics_port"].default]
    commands = "\n".join(a for _, a in ins)  # instructions only, not the comments
    assert "--frozen" in commands and "--no-dev" in commands and "uv.lock" in commands
    assert "--extra" not in commands and "--all-extras" not in commands
    assert "torch" not in commands
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)", text, re.M)
    bases = {alias: image for image, alias in stages}
    assert {"base-cpu", "base-gpu", "build", "runtime"} <= set(bases)
    assert "onnxruntime-gpu" in text
    assert re.search(r"^ARG GPU_BASE=nvidia/cuda:\S+cudnn\S*runtime", text, re.M)


def test_compose_parses_and_services_exist() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"kafka", "rbc", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]


@pytest.mark.parametrize("name", ["rbc", "rbc-gpu"])
def test_compose_serve_command_and_environment_are_valid_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _compose()["services"][name]
    command = service["command"]
    assert command[0] == SERVE_ARGV[1]
    args = _parse("serve", command[1:])
    for key, value in service["environment"].items():
        assert key.startswith("RBC_"), key
        monkeypatch.setenv(key, str(value))
    from rbc1000.cli.serve import _flags

    settings = load_settings(ServeSettings, _flags(args), None)
    assert settings.input_topics
    port = settings.metrics_port
    published = [p for p in service["ports"] if str(p).endswith(f":{port}")]
    assert published, f"{name} does not publish its metrics port {port}"
    assert str(settings.model_path).startswith("/app/models/")
    assert any(v.endswith(":/app/models:ro") for v in service["volumes"])


def test_compose_replay_command_parses() -> None:
    replay = _compose()["services"]["replay"]
    args = _parse(replay["command"][0], replay["command"][1:])
    assert args.topic in _compose()["services"]["rbc"]["command"]


def test_prometheus_scrapes_the_service_port() -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = [t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    port = _compose()["services"]["rbc"]["environment"]["RBC_METRICS_PORT"]
    assert f"rbc:{port}" in targets
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in prom["scrape_configs"])


def _exposed_names() -> set[str]:
    """Every sample name the metrics can produce (with _total, _bucket, _info suffixes)."""
    from prometheus_client import CollectorRegistry

    from rbc1000.ops.metrics import Metrics

    metrics = Metrics(CollectorRegistry())
    names = set()
    for family in metrics.registry.collect():
        names.add(family.name)
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "info": ("_info",),
            "gauge": ("",),
        }[family.type]
        names.update(family.name + s for s in suffixes)
    return names


def test_dashboard_parses_and_queries_only_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "rbc-service.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\brbc_[a-z_]+", e)}
    exposed = _exposed_names()
    assert used and used <= exposed, used - exposed
    for wanted in (
        "rbc_alerts_scored_total",
        "rbc_consumer_lag_messages",
        "rbc_end_to_end_latency_seconds_bucket",
        "rbc_p_real_bucket",
        "rbc_model_info",
    ):
        assert wanted in used
    assert all(any(n == m or n.startswith(m) for n in exposed) for m in METRIC_NAMES)


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    compose = _compose()["services"]["grafana"]
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/rbc.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in compose["volumes"]
    source = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ][0]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "rbc-service.json").read_text())
    assert all(p["datasource"]["uid"] == source["uid"] for p in dashboard["panels"])
    assert shlex.split(source["url"])[0] == "http://prometheus:9090"
