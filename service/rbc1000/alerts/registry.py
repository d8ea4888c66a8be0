"""Writer schemas for Confluent-framed messages, by schema id.

Rubin (and WFST, whose pipeline adapts Rubin's) publish schemaless Avro behind a 5-byte
Confluent header that names a schema id. We resolve the id from a local directory laid out
like `lsst/alert_packet` (`<survey>/<major>/<minor>/*.avsc`) or from a Confluent-compatible
schema registry over HTTP (`rbc1000.alerts.registry_client`: retries, a short cache of failed
lookups, credentials kept out of every message). Each id is resolved once and cached.

Local id convention: Rubin uses id = major*100 + minor (704 is lsst.v7_4). WFST has not
published ids; this project uses id = 10000 + major*100 + minor for `schemas/wfst/`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from rbc1000.alerts.alert import DecodeError
from rbc1000.alerts.projection import collect_named, inline_schema
from rbc1000.alerts.registry_client import RegistryClient, RegistryOptions
from rbc1000.assets import schema_root
from rbc1000.reasons import Reason

DEFAULT_SCHEMA_DIR = schema_root()
WFST_ID_OFFSET = 10000
_SURVEY_DIRS = (("lsst", 0), ("wfst", WFST_ID_OFFSET))


def load_schema_dir(directory: Path) -> dict[str, Any]:
    """Load the `*.alert.avsc` of a version directory with its siblings as named types."""
    named: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] | None = None
    for path in sorted(directory.glob("*.avsc")):
        schema = json.loads(path.read_text())
        collect_named(schema, None, named)
        if path.name.endswith(".alert.avsc"):
            top = schema
    if top is None:
        raise DecodeError(Reason.UNKNOWN_SCHEMA, f"no *.alert.avsc in {directory}")
    result = inline_schema(top, named)
    assert isinstance(result, dict)
    return result


class SchemaRegistry:
    """Resolves Confluent schema ids to writer schemas (JSON dicts), locally or over HTTP.

    `registry_url` is a URL (default retries and timeouts) or `RegistryOptions`.
    """

    def __init__(
        self, schema_dir: Path | None = None, registry_url: str | RegistryOptions | None = None
    ) -> None:
        self.schema_dir = schema_dir or DEFAULT_SCHEMA_DIR
        self.client = RegistryClient(RegistryOptions.of(registry_url)) if registry_url else None
        self._cache: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, schema_id: int) -> dict[str, Any]:
        """The writer schema for `schema_id`, or DecodeError: `unknown_schema` when no directory
        or registry knows it, `registry_unavailable` (transient) when the registry did not answer."""
        with self._lock:
            if schema_id not in self._cache:
                self._cache[schema_id] = self._resolve(schema_id)
            return self._cache[schema_id]

    def local_dir(self, schema_id: int) -> Path | None:
        for survey, offset in reversed(_SURVEY_DIRS):
            if schema_id >= offset:
                major, minor = divmod(schema_id - offset, 100)
                path = self.schema_dir / survey / str(major) / str(minor)
                return path if path.is_dir() else None
        return None

    def _resolve(self, schema_id: int) -> dict[str, Any]:
        local = self.local_dir(schema_id)
        if local is not None:
            return load_schema_dir(local)
        if self.client is not None:
            return self._fetch(self.client, schema_id)
        raise DecodeError(
            Reason.UNKNOWN_SCHEMA,
            f"schema id {schema_id} is not under {self.schema_dir} and no schema registry URL is configured",
        )

    def _fetch(self, client: RegistryClient, schema_id: int) -> dict[str, Any]:
        body = client.get_json(f"/schemas/ids/{schema_id}")
        named: dict[str, dict[str, Any]] = {}
        try:
            for ref in body.get("references", []):
                ref_body = client.get_json(f"/subjects/{ref['subject']}/versions/{ref['version']}")
                collect_named(json.loads(ref_body["schema"]), None, named)
            result = inline_schema(json.loads(body["schema"]), named)
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(
                Reason.BAD_SCHEMA,
                f"registry {client.where} gave no usable schema for id {schema_id}: {exc!r}",
            ) from None
        if not isinstance(result, dict):
            raise DecodeError(Reason.BAD_SCHEMA, f"schema id {schema_id} is not a record schema")
        return result
