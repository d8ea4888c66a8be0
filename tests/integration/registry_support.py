"""The test schema registry: registering the real LSST 9.0 schema under a fresh subject."""

from __future__ import annotations

import json
import urllib.request

from rbc1000.alerts.registry import DEFAULT_SCHEMA_DIR, load_schema_dir
from tests.integration.ops_support import unique


def register_lsst(registry: str, prefix: str) -> int:
    """The id the registry gives the LSST 9.0 schema under a fresh subject `<prefix>-...-value`."""
    schema = json.dumps(load_schema_dir(DEFAULT_SCHEMA_DIR / "lsst" / "9" / "0"))
    request = urllib.request.Request(
        f"{registry}/subjects/{unique(prefix)}-value/versions",
        data=json.dumps({"schema": schema}).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.load(response)["id"])
