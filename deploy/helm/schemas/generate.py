"""Regenerate the JSON schemas kubeconform validates the chart against (see SOURCES.md).

The sources are Go modules, fetched with `go mod download` through the Go module proxy:
Kubernetes' own OpenAPI document (k8s.io/kubernetes, api/openapi-spec/swagger.json), KEDA's
CRDs (github.com/kedacore/keda/v2, config/crd/bases) and the Prometheus operator's CRDs
(github.com/prometheus-operator/prometheus-operator, example/prometheus-operator-crd).
Each schema is written under kubeconform's file name `{kind}{-group-version}.json`, with the
definitions it reaches kept as local references and every object closed
(`additionalProperties: false`), which is what `kubeconform -strict` expects of a schema.

    python deploy/helm/schemas/generate.py
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
KUBERNETES = "k8s.io/kubernetes@v1.33.5"
KEDA = "github.com/kedacore/keda/v2@v2.21.0"
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
# (definition in swagger.json, apiVersion, kind): the built-in kinds the chart renders.
BUILTIN = [
    ("io.k8s.api.core.v1.ConfigMap", "v1", "ConfigMap"),
    ("io.k8s.api.core.v1.Service", "v1", "Service"),
    ("io.k8s.api.apps.v1.Deployment", "apps/v1", "Deployment"),
    ("io.k8s.api.policy.v1.PodDisruptionBudget", "policy/v1", "PodDisruptionBudget"),
    ("io.k8s.api.batch.v1.CronJob", "batch/v1", "CronJob"),
]
# (module, CRD file inside it): the custom kinds.
CRDS = [
    (KEDA, "config/crd/bases/keda.sh_scaledobjects.yaml"),
    (KEDA, "config/crd/bases/keda.sh_triggerauthentications.yaml"),
    (PROMETHEUS_OPERATOR, "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"),
]


def module_dir(module: str) -> Path:
    out = subprocess.run(["go", "mod", "download", "-json", module], check=True, capture_output=True)
    return Path(json.loads(out.stdout)["Dir"])


def file_name(api_version: str, kind: str) -> str:
    """kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json` for this apiVersion and kind."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def close_objects(node: Any) -> None:
    """Set additionalProperties: false on every object that lists its properties."""
    if isinstance(node, dict):
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        if node.get("format") == "int-or-string" or node.get("x-kubernetes-int-or-string"):
            node.pop("type", None)
            node["oneOf"] = [{"type": "string"}, {"type": "integer"}]
        for value in node.values():
            close_objects(value)
    elif isinstance(node, list):
        for value in node:
            close_objects(value)


def reachable(definitions: dict[str, Any], root: str) -> dict[str, Any]:
    """The definitions `root` reaches through $ref, root included."""
    seen: dict[str, Any] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = definitions[name]
        text = json.dumps(definitions[name])
        todo += [part.split('"')[0] for part in text.split('"$ref": "#/definitions/')[1:]]
    return seen


def builtin_schema(definitions: dict[str, Any], name: str) -> dict[str, Any]:
    defs = copy.deepcopy(reachable(definitions, name))
    close_objects(defs)
    # A quantity is written `1` or `"500m"` in manifests; swagger.json only says string.
    quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"
    if quantity in defs:
        defs[quantity] = {"oneOf": [{"type": "string"}, {"type": "number"}]}
    root = defs[name]
    return {"$schema": "http://json-schema.org/draft-04/schema#", **root, "definitions": defs}


def crd_schemas(path: Path) -> dict[str, dict[str, Any]]:
    crd = yaml.safe_load(path.read_text())
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    out = {}
    for version in crd["spec"]["versions"]:
        schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
        close_objects(schema)
        out[file_name(f"{group}/{version['name']}", kind)] = schema
    return out


def main() -> None:
    swagger = module_dir(KUBERNETES) / "api" / "openapi-spec" / "swagger.json"
    definitions = json.loads(swagger.read_text())["definitions"]
    schemas = {file_name(v, k): builtin_schema(definitions, d) for d, v, k in BUILTIN}
    for module, crd in CRDS:
        schemas.update(crd_schemas(module_dir(module) / crd))
    for name, schema in sorted(schemas.items()):
        (HERE / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
