"""Decode raw alert messages into typed `Alert` records: the edge of the system.

A message is either an Avro object container (each ZTF Kafka message, and alert files on
disk; one or many records) or a Confluent-framed schemaless body (Rubin, WFST), told apart
by their first bytes. The hot path parses each writer schema once (cached by fingerprint or
schema id) and reads records through a projection holding only what scoring needs; the
full record is decoded only when `Alert.record()` is called.

Nothing raises out of `Decoder.decode`: each record becomes an `Alert` or a
`DecodeFailure` carrying a typed `DecodeError`.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import fastavro

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure, DecodeResult, Survey
from rbc1000.alerts.container import parse_container, schema_fingerprint
from rbc1000.alerts.framing import detect_framing, split_confluent
from rbc1000.alerts.projection import project_schema
from rbc1000.alerts.registry import SchemaRegistry
from rbc1000.alerts.surveys import family_of, fields_for, schema_version_hint, to_alert
from rbc1000.reasons import Reason


@dataclass(frozen=True, slots=True)
class SchemaPlan:
    """How to read records of one writer schema: parsed writer, projected reader, family."""

    survey: Survey
    version_hint: str
    writer: Any
    reader: Any

    def read(self, buffer: io.BytesIO) -> dict[str, Any]:
        return dict(fastavro.schemaless_reader(buffer, self.writer, self.reader))  # type: ignore[arg-type]

    def full(self, record_bytes: bytes) -> dict[str, Any]:
        try:
            return dict(fastavro.schemaless_reader(io.BytesIO(record_bytes), self.writer, None))  # type: ignore[arg-type]
        except Exception as exc:  # the projection read it, so only a writer-schema bug lands here
            raise DecodeError(Reason.BAD_RECORD, f"full record: {type(exc).__name__}: {exc}") from None


def make_plan(schema: dict[str, Any]) -> SchemaPlan:
    """Parse a writer schema and its projection; DecodeError if it is not an alert schema."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise DecodeError(Reason.UNKNOWN_SURVEY, "writer schema is not an Avro record")
    try:  # parse first: family_of and the projection may assume a well-formed schema
        writer = fastavro.parse_schema(schema, named_schemas={})
    except Exception as exc:  # fastavro raises several types for malformed schemas
        raise DecodeError(Reason.BAD_SCHEMA, f"cannot parse writer schema: {exc}") from None
    survey = family_of(schema)
    try:
        reader = fastavro.parse_schema(project_schema(schema, fields_for(survey)), named_schemas={})
    except Exception as exc:
        raise DecodeError(Reason.BAD_SCHEMA, f"cannot project writer schema: {exc}") from None
    return SchemaPlan(survey, schema_version_hint(schema), writer, reader)


class Decoder:
    """Decodes messages of any supported framing; caches one `SchemaPlan` per writer schema.

    Thread-safe for concurrent `decode` calls (plans are immutable once built).
    """

    def __init__(self, schema_dir: Path | None = None, registry_url: str | None = None) -> None:
        self.registry = SchemaRegistry(schema_dir, registry_url)
        self._by_fingerprint: dict[bytes, SchemaPlan] = {}
        self._by_id: dict[int, SchemaPlan] = {}
        self._lock = threading.Lock()

    def decode(self, data: bytes) -> list[DecodeResult]:
        """Decode one message (or file content) into one result per record."""
        try:
            if detect_framing(data) == "container":
                return self._decode_container(data)
            return self._decode_confluent(data)
        except DecodeError as exc:
            return [DecodeFailure(0, exc)]

    def plan_for_id(self, schema_id: int) -> SchemaPlan:
        plan = self._by_id.get(schema_id)
        if plan is None:
            plan = make_plan(self.registry.get(schema_id))
            with self._lock:
                self._by_id[schema_id] = plan
        return plan

    def plan_for_json(self, schema_json: bytes, fingerprint: bytes | None = None) -> SchemaPlan:
        key = fingerprint or schema_fingerprint(schema_json)
        plan = self._by_fingerprint.get(key)
        if plan is None:
            try:
                schema = json.loads(schema_json)
            except ValueError as exc:
                raise DecodeError(Reason.BAD_SCHEMA, f"writer schema is not JSON: {exc}") from None
            plan = make_plan(schema)
            with self._lock:
                self._by_fingerprint[key] = plan
        return plan

    def _decode_confluent(self, data: bytes) -> list[DecodeResult]:
        schema_id, body = split_confluent(data)
        plan = self.plan_for_id(schema_id)
        results: list[DecodeResult] = []
        end = _read_records(plan, body, 1, 0, results)
        if end < len(body) and isinstance(results[0], Alert):
            # A Confluent body is exactly one record; bytes left over mean the wrong schema id.
            results[0] = DecodeFailure(
                0,
                DecodeError(
                    Reason.BAD_RECORD, f"{len(body) - end} bytes left after the record: wrong schema id?"
                ),
            )
        return results

    def _decode_container(self, data: bytes) -> list[DecodeResult]:
        container = parse_container(data)
        plan = self.plan_for_json(container.schema_json, container.fingerprint)
        results: list[DecodeResult] = []
        for block in container.blocks():
            if block.data is None:
                results.append(DecodeFailure(len(results), block.error or DecodeError(Reason.BAD_BLOCK)))
                continue
            _read_records(plan, block.data, block.count, len(results), results)
        return results


def _read_records(
    plan: SchemaPlan, data: bytes, count: int, first_index: int, out: list[DecodeResult]
) -> int:
    """Read `count` consecutive records of `data`, appending one result each; return the end.

    Avro records are not self-delimiting: after a record fails to parse, the rest of this
    block cannot be located, so they are reported as one failure.
    """
    buffer = io.BytesIO(data)
    for index in range(first_index, first_index + count):
        start = buffer.tell()
        try:
            record = plan.read(buffer)
        except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, ...
            out.append(DecodeFailure(index, DecodeError(Reason.BAD_RECORD, f"{type(exc).__name__}: {exc}")))
            return len(data)
        raw = data[start : buffer.tell()]
        try:
            out.append(to_alert(plan.survey, record, plan.version_hint, partial(plan.full, raw)))
        except DecodeError as exc:
            out.append(DecodeFailure(index, exc))
        except (TypeError, ValueError, OverflowError) as exc:
            out.append(DecodeFailure(index, DecodeError(Reason.BAD_FIELD, f"{type(exc).__name__}: {exc}")))
    return buffer.tell()
