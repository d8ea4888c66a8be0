"""The Helm chart renders for every values profile and validates strictly against the schemas.

`helm template` renders deploy/helm/rbc1000 with each file of its profiles/ folder, and
`kubeconform -strict` checks every object against the schemas vendored in
deploy/helm/schemas (Kubernetes', KEDA's and the Prometheus operator's, sources in SOURCES.md),
with no download. helm and kubeconform are Go programs: found on PATH or in $(go env GOPATH)/bin,
else installed with `go install` when Go is here, else these tests are skipped with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "rbc1000"
SCHEMAS = ROOT / "deploy" / "helm" / "schemas"
PROFILES = sorted(p.stem for p in (CHART / "profiles").glob("*.yaml"))
TOOLS = {
    "helm": "helm.sh/helm/v3/cmd/helm@v3.22.0",
    "kubeconform": "github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0",
}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"{name} is not installed and Go is absent to `go install` it")
    gopath = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True, check=True).stdout.strip()
    binary = Path(gopath) / "bin" / name
    if not binary.exists():
        done = subprocess.run([go, "install", TOOLS[name]], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"`go install {TOOLS[name]}` failed: {done.stderr.strip()[-300:]}")
    return str(binary)


def _render(profile: str) -> str:
    done = subprocess.run(
        [
            _tool("helm"),
            "template",
            "rbc",
            str(CHART),
            "--namespace",
            "alerts",
            "-f",
            str(CHART / "profiles" / f"{profile}.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _objects(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def _kind(objects: list[dict[str, Any]], kind: str, component: str | None = None) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["kind"] == kind
        and (component is None or o["metadata"]["labels"].get("app.kubernetes.io/component") == component)
    ]


def test_every_profile_is_a_file() -> None:
    assert {"cpu", "gpu", "labelling", "external-db"} <= set(PROFILES)


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_renders_and_validates_strictly(profile: str, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(_render(profile))
    done = subprocess.run(
        [
            _tool("kubeconform"),
            "-strict",
            "-summary",
            "-schema-location",
            str(SCHEMAS / "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
            str(manifest),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in done.stdout, done.stdout


@pytest.mark.parametrize("profile", PROFILES)
def test_scoring_pods_probe_health_and_read_settings_from_the_configmap(profile: str) -> None:
    objects = _objects(_render(profile))
    deployment = _kind(objects, "Deployment", "scoring")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config = _kind(objects, "ConfigMap")[0]
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    assert not any("PASSWORD" in key for key in config["data"]), "secrets belong in Secrets"
    assert config["data"]["RBC_METRICS_HOST"] == "0.0.0.0"  # the service's default is loopback
    assert container["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("profile", PROFILES)
def test_autoscaler_never_exceeds_the_partitions(profile: str) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    objects = _objects(_render(profile))
    for scaled in _kind(objects, "ScaledObject"):
        assert scaled["spec"]["maxReplicaCount"] <= values["kafka"]["partitions"]
        (trigger,) = scaled["spec"]["triggers"]
        if trigger["type"] == "prometheus":
            assert "rbc_consumer_lag_messages" in trigger["metadata"]["query"]
        else:
            assert trigger["type"] == "kafka"


def test_partition_bound_applies_when_asked_for_more(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            _tool("helm"),
            "template",
            "rbc",
            str(CHART),
            "--set",
            "autoscaling.maxReplicas=50",
            "--set",
            "kafka.partitions=6",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    (scaled,) = _kind(_objects(done.stdout), "ScaledObject")
    assert scaled["spec"]["maxReplicaCount"] == 6


def test_gpu_profile_asks_for_a_gpu_on_gpu_nodes() -> None:
    objects = _objects(_render("gpu"))
    pod = _kind(objects, "Deployment", "scoring")[0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["containers"][0]["image"].endswith(":gpu")
    assert pod["nodeSelector"]
    assert _kind(objects, "ConfigMap")[0]["data"]["RBC_PROVIDER"] == "cuda"


def test_labelling_profile_shares_the_registry_and_takes_secrets_by_reference() -> None:
    objects = _objects(_render("labelling"))
    scoring = _kind(objects, "Deployment", "scoring")[0]["spec"]["template"]["spec"]
    (cronjob,) = _kind(objects, "CronJob")
    job = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in job["volumes"] if "persistentVolumeClaim" in v}
    scoring_claims = {
        v["persistentVolumeClaim"]["claimName"] for v in scoring["volumes"] if "persistentVolumeClaim" in v
    }
    assert claims & scoring_claims, "the CronJob and the scoring pods share the registry volume"
    assert _kind(objects, "Deployment", "labelling") and _kind(objects, "Deployment", "postgresql")
    env = scoring["containers"][0]["env"]
    assert all("valueFrom" in e and "secretKeyRef" in e["valueFrom"] for e in env)
