"""The Dockerfile, compose stack, Prometheus and Grafana files agree with the code they run.

These tests need no Docker daemon (scripts/test-container.sh builds and runs the images): the
image's entry command is the `rbc serve` the integration tests run, the compose commands and
environment are accepted by the service's own argument parser and settings, the compose file
keeps to what both `docker compose` v2 and docker-compose 1.29 accept, and the dashboard only
queries metrics the service exports.
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
    ins = _instructions()  # the last stage is the scoring image
    entry = _exec_form([a for w, a in ins if w == "ENTRYPOINT"][-1])
    cmd = _exec_form([a for w, a in ins if w == "CMD"][-1])
    assert [*entry, *cmd] == SERVE_ARGV
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[entry[0]] == "rbc1000.cli.main:main"


def test_image_is_slim_non_root_and_checks_health() -> None:
    ins = _instructions()
    text = DOCKERFILE.read_text()
    users = [a for w, a in ins if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = [a for w, a in ins if w == "HEALTHCHECK"][-1]
    assert "/healthz" in health
    exposed = [int(a) for w, a in ins if w == "EXPOSE"][-1]
    assert exposed == ServeSettings.model_fields["metrics_port"].default
    commands = "\n".join(a for _, a in ins)  # instructions only, not the comments
    assert "--frozen" in commands and "--no-dev" in commands and "uv.lock" in commands
    assert "--all-extras" not in commands and "torch" not in commands
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)", text, re.M)
    bases = {alias: image for image, alias in stages}
    assert {"base-cpu", "base-gpu", "native", "build", "build-label", "label", "runtime"} <= set(bases)
    # The scoring image is the last stage (the default target) and takes the core environment,
    # not the labelling app's extra.
    assert stages[-1][1] == "runtime"
    runtime = text.split("AS runtime", 1)[1]
    assert "--from=build " in runtime and "build-label" not in runtime
    assert "--extra label" in text.split("AS build-label", 1)[1].split("\nFROM ", 1)[0]
    assert "onnxruntime-gpu" in text
    assert re.search(r"^ARG GPU_BASE=nvidia/cuda:\S+cudnn\S*runtime", text, re.M)


def test_image_takes_its_interpreter_from_the_base_and_pins_it() -> None:
    text = DOCKERFILE.read_text()
    assert "UV_PYTHON_DOWNLOADS=never" in text and "only-managed" not in text
    assert re.search(r"^ARG CPU_BASE=python:3\.1[1-9]\.\d+-slim-\S+", text, re.M)
    assert re.search(r"^ARG CPU_PYTHON=3\.1[1-9]\.\d+$", text, re.M)
    assert "ARG EXTRA_CA_CERTS" in text and "update-ca-certificates" in text
    assert "rbc1000_native-" in text  # the compiled core, from the native stage


def test_image_environment_names_only_known_settings() -> None:
    """The settings refuse an unknown RBC_ variable, so one in the image would stop every command."""
    from rbc1000.ops.env_check import unknown_variables
    from rbc1000.ops.settings import settings_models

    names = {m for w, a in _instructions() if w == "ENV" for m in re.findall(r"\b(RBC_[A-Z0-9_]+)=", a)}
    assert {"RBC_MODEL_PATH", "RBC_METRICS_PORT", "RBC_DATABASE_URL"} <= names
    assert unknown_variables(dict.fromkeys(names, ""), settings_models()) == []


def test_dockerignore_lets_in_only_what_the_image_needs() -> None:
    lines = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {ln[1:] for ln in lines if ln.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "schemas",
        "models",
        "service",
        "training",
        "native",
    }
    copied = {a.split()[0].rstrip("/") for w, a in _instructions() if w == "COPY" and "--from" not in a}
    assert copied <= allowed, copied - allowed


def test_compose_parses_and_services_exist() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"kafka", "rbc", "label", "prometheus", "grafana"} <= set(services)
    # Kafka and Prometheus are built from Debian packages, not pulled from a registry.
    for name, context in (("kafka", "kafka"), ("prometheus", "prometheus")):
        assert services[name]["build"]["context"] == context
        assert (DEPLOY / context / "Dockerfile").is_file()
    assert services["label"]["build"]["target"] == "label"


def test_compose_file_suits_compose_v2_and_docker_compose_1_29() -> None:
    compose = _compose()
    # docker-compose 1.29 rejects a top-level `name:`; v2 warns about `version:`.
    assert set(compose) <= {"services", "volumes", "networks"}
    for name, service in compose["services"].items():
        assert "image" in service, f"{name}: an image name, so a built image is reused"
        for port in service.get("ports", []):
            assert re.fullmatch(PUBLISHED, str(port)), port


PUBLISHED = r"\$\{RBC_PUBLISH_HOST:-127\.0\.0\.1\}:\$\{RBC_PORT_[A-Z_]+:-\d+\}:\d+"


def test_compose_publishes_on_loopback_only_unless_told() -> None:
    """Nothing in the stack has a password: by default no other machine may reach any of it."""
    services = _compose()["services"]
    published = [str(p) for s in services.values() for p in s.get("ports", [])]
    assert len(published) == 6
    defaults = [re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", p) for p in published]
    assert all(d.startswith("127.0.0.1:") for d in defaults), defaults
    assert "RBC_PUBLISH_HOST" in (DEPLOY / "docker-compose.yml").read_text().split("services:")[0]


def test_image_and_compose_open_the_metrics_server_inside_the_container() -> None:
    """The service binds 127.0.0.1 by default; in a container that hides it from probes."""
    runtime = DOCKERFILE.read_text().split("AS runtime")[1]
    assert re.search(r"^ENV RBC_METRICS_HOST=0\.0\.0\.0", runtime, re.M)
    for name in ("rbc", "rbc-gpu"):
        assert _compose()["services"][name]["environment"]["RBC_METRICS_HOST"] == "0.0.0.0"


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
    published = [p for p in service["ports"] if str(p).endswith(f"}}:{port}")]
    assert published, f"{name} does not publish its metrics port {port}"
    assert str(settings.model_path).startswith("/app/models/")
    assert any(v.endswith(":/app/models:ro") for v in service["volumes"])


def test_compose_replay_command_parses() -> None:
    replay = _compose()["services"]["replay"]
    args = _parse(replay["command"][0], replay["command"][1:])
    assert args.topic in _compose()["services"]["rbc"]["command"]


def test_prometheus_finds_the_services_that_are_up_by_name() -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    services = _compose()["services"]
    (job,) = prom["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    # DNS discovery, no static list: a service whose profile is down is no target at all.
    assert "static_configs" not in job
    (sd,) = job["dns_sd_configs"]
    assert set(sd["names"]) == {"rbc", "rbc-gpu"} <= set(services)
    assert {int(services[n]["environment"]["RBC_METRICS_PORT"]) for n in sd["names"]} == {sd["port"]}
    assert (
        "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]
    )


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
