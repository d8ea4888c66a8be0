"""Writer schemas for Confluent-framed messages, by schema id.

Rubin (and WFST, whose pipeline adapts Rubin's) publish schemaless Avro behind a 5-byte
Confluent header that names a schema id. We resolve the id from a local directory laid out
like `lsst/alert_packet` (`<survey>/<major>/<minor>/*.avsc`) or from a Confluent-compatible
schema registry over HTTP. Each id is resolved once and cached.

Local id convention: Rubin uses id = major*100 + minor (704 is lsst.v7_4). WFST has not
published ids; this project uses id = 10000 + major*100 + minor for `schemas/wfst/`.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rbc1000.alerts.alert import DecodeError
from rbc1000.alerts.projection import collect_named, inline_schema
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
    """Resolves Confluent schema ids to writer schemas (JSON dicts), locally or over HTTP."""

    def __init__(
        self, schema_dir: Path | None = None, registry_url: str | None = None, timeout_s: float = 10.0
    ) -> None:
        self.schema_dir = schema_dir or DEFAULT_SCHEMA_DIR
        self.registry_url = registry_url.rstrip("/") if registry_url else None
        self.timeout_s = timeout_s
        self._cache: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, schema_id: int) -> dict[str, Any]:
        """The writer schema for `schema_id`, or DecodeError(Reason.UNKNOWN_SCHEMA)."""
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
        if self.registry_url:
            return self._fetch(schema_id)
        raise DecodeError(
            Reason.UNKNOWN_SCHEMA,
            f"schema id {schema_id} is not under {self.schema_dir} and no schema registry URL is configured",
        )

    def _fetch(self, schema_id: int) -> dict[str, Any]:
        body = self._get_json(f"/schemas/ids/{schema_id}")
        named: dict[str, dict[str, Any]] = {}
        for ref in body.get("references", []):
            ref_body = self._get_json(f"/subjects/{ref['subject']}/versions/{ref['version']}")
            collect_named(json.loads(ref_body["schema"]), None, named)
        result = inline_schema(json.loads(body["schema"]), named)
        assert isinstance(result, dict)
        return result

    def _get_json(self, path: str) -> dict[str, Any]:
        url = f"{self.registry_url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:
            raise DecodeError(Reason.UNKNOWN_SCHEMA, f"registry answered {exc.code} for {url}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DecodeError(Reason.REGISTRY_UNAVAILABLE, f"{url}: {exc}") from None
