"""Avro schema utilities: canonical full names, inlining of named types, and projection.

Scoring needs a dozen fields of an alert that holds hundreds (ZTF's `prv_candidates`,
Rubin's `prvDiaSources`, ...). A *reader* schema with only those fields makes fastavro skip
the rest. Projections keep every record's full name so that Avro schema resolution matches
the writer's records; named types are written out in full at their first use, because
a projection may drop the field where the writer first defined them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_NAMED = {"record", "enum", "fixed", "error"}

Schema = Any  # a JSON-like Avro schema: str | list | dict


def full_name(name: str, namespace: str | None) -> str:
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def collect_named(
    schema: Schema, namespace: str | None = None, out: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Map every named type defined in `schema` to its definition, keyed by full name."""
    out = {} if out is None else out
    if isinstance(schema, list):
        for branch in schema:
            collect_named(branch, namespace, out)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in _NAMED:
            name = full_name(schema["name"], schema.get("namespace", namespace))
            out[name] = schema
            namespace = name.rpartition(".")[0] or None
            for field in schema.get("fields", []):
                collect_named(field["type"], namespace, out)
        elif kind == "array":
            collect_named(schema["items"], namespace, out)
        elif kind == "map":
            collect_named(schema["values"], namespace, out)
        elif isinstance(kind, dict | list):
            collect_named(kind, namespace, out)
    return out


class Inliner:
    """Rewrites schemas with full names, defining each named type once, at first use."""

    def __init__(self, named: Mapping[str, dict[str, Any]]) -> None:
        self.named = named
        self.emitted: set[str] = set()

    def resolve(self, name: str, namespace: str | None) -> str:
        for candidate in (full_name(name, namespace), name):
            if candidate in self.named:
                return candidate
        raise KeyError(f"unknown Avro type {name!r}")

    def inline(self, schema: Schema, namespace: str | None = None) -> Schema:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return schema
            name = self.resolve(schema, namespace)
            if name in self.emitted:
                return name
            return self.inline(self.named[name], name.rpartition(".")[0] or None)
        if isinstance(schema, list):
            return [self.inline(branch, namespace) for branch in schema]
        kind = schema.get("type")
        if kind in _NAMED:
            return self.named_type(schema, namespace, None)
        if kind == "array":
            return {**schema, "items": self.inline(schema["items"], namespace)}
        if kind == "map":
            return {**schema, "values": self.inline(schema["values"], namespace)}
        if isinstance(kind, dict | list | str) and kind not in _PRIMITIVES:
            return self.inline(kind, namespace)
        return copy.deepcopy(schema)

    def named_type(
        self, schema: dict[str, Any], namespace: str | None, keep: Mapping[str, Any] | None
    ) -> Schema:
        """Emit a named type; for records, `keep` (field -> sub-projection) filters fields."""
        name = full_name(schema["name"], schema.get("namespace", namespace))
        if name in self.emitted and keep is None:
            return name
        self.emitted.add(name)
        out = {k: v for k, v in schema.items() if k not in ("namespace", "fields", "doc")}
        out["name"] = name
        if "fields" in schema:
            inner_ns = name.rpartition(".")[0] or None
            out["fields"] = [
                {k: v for k, v in field.items() if k != "doc"}
                | {
                    "type": self.project(
                        field["type"], inner_ns, keep.get(field["name"]) if keep is not None else None
                    )
                }
                for field in schema["fields"]
                if keep is None or field["name"] in keep
            ]
        return out

    def project(self, schema: Schema, namespace: str | None, keep: Any) -> Schema:
        """Like `inline`, but records reached directly (through unions too) keep only `keep`."""
        if not keep:
            return self.inline(schema, namespace)
        if isinstance(schema, list):
            return [self.project(branch, namespace, keep) for branch in schema]
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            name = self.resolve(schema, namespace)
            return self.project(self.named[name], name.rpartition(".")[0] or None, keep)
        if isinstance(schema, dict) and schema.get("type") == "record":
            fields = {f["name"] for f in schema["fields"]}
            wanted = {k: v for k, v in keep.items() if k in fields}
            # Projected copies share the writer's name; register it as defined so that later
            # references get the full definition only if it was never emitted in full.
            projected = self.named_type(schema, namespace, wanted)
            self.emitted.discard(projected["name"])
            return projected
        return self.inline(schema, namespace)


def inline_schema(schema: Schema, extra_named: Mapping[str, dict[str, Any]] | None = None) -> Schema:
    """A self-contained copy of `schema` with every named reference defined at first use."""
    named = dict(extra_named or {})
    collect_named(schema, None, named)
    return Inliner(named).inline(schema)


def project_schema(schema: dict[str, Any], keep: Mapping[str, Any]) -> dict[str, Any]:
    """The reader schema of `schema` (a top-level record) that keeps only `keep`.

    `keep` maps field names to None (whole field) or to a nested mapping for a record field.
    Names absent from the writer are ignored, so one `keep` serves every schema version.
    """
    named = collect_named(schema)
    inliner = Inliner(named)
    fields = {f["name"] for f in schema["fields"]}
    result = inliner.named_type(schema, None, {k: v for k, v in keep.items() if k in fields})
    assert isinstance(result, dict)
    return result
