"""Decode raw alert messages into typed `Alert` records: the edge of the system.

A message is either an Avro object container (each ZTF Kafka message, and alert files on
disk; one or many records) or a Confluent-framed schemaless body (Rubin, WFST), told apart
by their first bytes. The hot path parses each writer schema once (cached by fingerprint or
schema id) and reads records through a projection holding only what scoring needs; the
full record is decoded only when `Alert.record()` is called.

Nothing raises out of `Decoder.decode`: each record becomes an `Alert` or a
`DecodeFailure` carrying a typed `DecodeError`; what the code did not foresee becomes
`Reason.DECODER_ERROR` with the exception's type in the detail. What a packet may cost is
bounded by `DecodeLimits` (rbc1000.alerts.limits), and the plans of writer schemas are kept
in a least-recently-used cache of `schema_cache_size` entries, since every packet may bring
a schema of its own.
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import fastavro

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure, DecodeResult, Survey
from rbc1000.alerts.container import parse_container, schema_fingerprint
from rbc1000.alerts.framing import detect_framing, split_confluent
from rbc1000.alerts.limits import DEFAULT_LIMITS, DecodeLimits, json_depth
from rbc1000.alerts.projection import project_schema
from rbc1000.alerts.registry import SchemaRegistry
from rbc1000.alerts.registry_client import RegistryOptions
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


def make_plan(schema: dict[str, Any], limits: DecodeLimits = DEFAULT_LIMITS) -> SchemaPlan:
    """Parse a writer schema and its projection; DecodeError if it is not an alert schema."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise DecodeError(Reason.UNKNOWN_SURVEY, "writer schema is not an Avro record")
    if (depth := _object_depth(schema, limits.max_schema_depth)) > limits.max_schema_depth:
        raise limits.exceeded("max_schema_depth", f"writer schema nests {depth}+ levels")
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


def _object_depth(value: Any, stop_after: int) -> int:
    """Nesting depth of a JSON-like value (dicts and lists), iteratively, stopping past `stop_after`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if deepest > stop_after:
                return deepest
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


class PlanCache:
    """A bounded, thread-safe least-recently-used map of schema keys to plans."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._plans: OrderedDict[Hashable, SchemaPlan] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._plans)

    def get(self, key: Hashable, build: Callable[[], SchemaPlan]) -> SchemaPlan:
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = build()  # outside the lock: a slow registry lookup must not block other schemas
        with self._lock:
            self._plans[key] = plan
            self._plans.move_to_end(key)
            while len(self._plans) > self.size:
                self._plans.popitem(last=False)
        return plan


class Decoder:
    """Decodes messages of any supported framing; caches one `SchemaPlan` per writer schema.

    Thread-safe for concurrent `decode` calls (plans are immutable once built).
    """

    def __init__(
        self,
        schema_dir: Path | None = None,
        registry_url: str | RegistryOptions | None = None,
        limits: DecodeLimits = DEFAULT_LIMITS,
    ) -> None:
        self.registry = SchemaRegistry(schema_dir, registry_url)
        self.limits = limits
        self.plans = PlanCache(limits.schema_cache_size)

    def decode(self, data: bytes) -> list[DecodeResult]:
        """Decode one message (or file content) into one result per record; never raises."""
        try:
            if detect_framing(data) == "container":
                return self._decode_container(data)
            return self._decode_confluent(data)
        except DecodeError as exc:
            return [DecodeFailure(0, exc)]
        except Exception as exc:  # RecursionError, MemoryError, a bug: typed, never a traceback
            return [DecodeFailure(0, unforeseen(exc))]

    def plan_for_id(self, schema_id: int) -> SchemaPlan:
        return self.plans.get(("id", schema_id), lambda: make_plan(self.registry.get(schema_id), self.limits))

    def plan_for_json(self, schema_json: bytes, fingerprint: bytes | None = None) -> SchemaPlan:
        key = ("json", fingerprint or schema_fingerprint(schema_json))
        return self.plans.get(key, lambda: self._plan_of_json(schema_json))

    def _plan_of_json(self, schema_json: bytes) -> SchemaPlan:
        limits = self.limits
        if len(schema_json) > limits.max_schema_bytes:
            raise limits.exceeded("max_schema_bytes", f"writer schema of {len(schema_json)} bytes")
        if (depth := json_depth(schema_json, limits.max_schema_depth)) > limits.max_schema_depth:
            raise limits.exceeded("max_schema_depth", f"writer schema nests {depth}+ levels")
        try:
            schema = json.loads(schema_json)
        except ValueError as exc:
            raise DecodeError(Reason.BAD_SCHEMA, f"writer schema is not JSON: {exc}") from None
        return make_plan(schema, limits)

    def _decode_confluent(self, data: bytes) -> list[DecodeResult]:
        schema_id, body = split_confluent(data)
        if len(body) > self.limits.max_message_bytes:
            raise self.limits.exceeded("max_message_bytes", f"Confluent body of {len(body)} bytes")
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
        container = parse_container(data, self.limits)
        plan = self.plan_for_json(container.schema_json, container.fingerprint)
        results: list[DecodeResult] = []
        cap = self.limits.max_records_per_message
        for block in container.blocks():
            if len(results) + (block.count if block.data is not None else 1) > cap:
                error = self.limits.exceeded(
                    "max_records_per_message", f"more than {cap} records in the message"
                )
                results.append(DecodeFailure(len(results), error))
                break
            if block.data is None:
                results.append(DecodeFailure(len(results), block.error or DecodeError(Reason.BAD_BLOCK)))
                continue
            _read_records(plan, block.data, block.count, len(results), results)
        return results


def unforeseen(exc: BaseException) -> DecodeError:
    """The catch-all failure: `Reason.DECODER_ERROR`, naming the exception's type."""
    return DecodeError(Reason.DECODER_ERROR, f"{type(exc).__name__}: {str(exc)[:200]}")


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
        except Exception as exc:
            out.append(DecodeFailure(index, unforeseen(exc)))
    return buffer.tell()
