"""Batch decoding to model inputs, by the compiled core (`rbc1000._native`) or the Python path.

Both decoders here turn a batch of messages into the same `DecodedBatch`: one item per
record (an `Alert` or a `DecodeFailure`, with the same reasons as `Decoder.decode`) and a
float32 `[rows, 3, 63, 63]` array of triplets of the preprocessing version asked for, one
row per alert whose stamps could be preprocessed. The Python path (`Decoder` plus
`triplet_from_cutouts`) is the reference; the native one must match it, as
tests/unit/alerts/test_native_parity.py checks.

The native decoder keeps every schema-level decision in Python: on the first message of a
new writer schema it asks `Decoder` for the plan (so a bad schema fails exactly as there),
then registers the schema with the core, which reads every later message without the GIL.
Schemas the core cannot read (e.g. logical types among the kept fields) and codecs it does
not implement (zstandard, bzip2, xz) go through the Python path, message by message. A
preprocessing version the core does not implement (`native_versions()`) is computed in
Python from the stamps the core decoded (`NativeBatchDecoder.preprocessing` says which).

The path is chosen once, by `make_batch_decoder(path)` from the `decode_path` setting, and
logged ('auto': native when installed). Both apply the same `DecodeLimits`, and neither raises
for a packet: the unforeseen becomes `Reason.DECODER_ERROR`, and a batch the core fails on as
a whole (a panic) is decoded again on the Python path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np

from rbc1000.alerts.alert import Alert, Cutouts, DecodeError, DecodeFailure, DecodeResult, Survey
from rbc1000.alerts.container import schema_fingerprint
from rbc1000.alerts.decoding import Decoder, unforeseen
from rbc1000.alerts.fits import read_stamp
from rbc1000.alerts.limits import DEFAULT_LIMITS, DecodeLimits
from rbc1000.alerts.registry_client import RegistryOptions
from rbc1000.alerts.surveys import fields_for, to_alert
from rbc1000.model.preprocessing import PP_V1, TRIPLET_SHAPE, make_triplet
from rbc1000.reasons import Reason

try:
    from rbc1000 import _native
except ImportError:  # the extension is optional: a source checkout without a Rust build
    _native = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DecodePath = Literal["auto", "python", "native"]
Implementation = Literal["python", "native"]


class DecodePathError(ValueError):
    """The decode path asked for cannot be used here (the extension is not installed)."""


class DecodedItem(NamedTuple):
    """One record of a batch: which message it came from, what it decoded to, its triplet row
    (None when it has none) and, for an alert without one, why preprocessing refused it.

    A named tuple: one is made per alert, and it is cheaper to build than a dataclass."""

    message: int
    result: DecodeResult
    row: int | None
    triplet_error: DecodeError | None = None


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """The records of a batch of messages and the model inputs (of `version`) of those that have one."""

    items: list[DecodedItem]
    triplets: np.ndarray
    version: str = PP_V1

    def results(self, message: int) -> list[DecodeResult]:
        return [item.result for item in self.items if item.message == message]

    def triplet_rows(self) -> list[int | DecodeError | None]:
        """Per item: its triplet's row, else why preprocessing refused it (None: not an alert)."""
        return [item.row if item.row is not None else item.triplet_error for item in self.items]


class BatchDecoder(Protocol):
    """What the service needs of a decoder; `path` names the implementation for logs and metrics."""

    @property
    def path(self) -> Implementation: ...

    def preprocessing(self, version: str) -> Implementation:
        """Which code computes the triplets of `version`."""
        ...

    def decode(self, data: bytes) -> list[DecodeResult]: ...

    def decode_batch(self, messages: Sequence[bytes], version: str = PP_V1) -> DecodedBatch: ...


def native_available() -> bool:
    return _native is not None


def native_versions() -> tuple[str, ...]:
    """The preprocessing versions the compiled core implements (none without it)."""
    return tuple(_native.PREPROCESSING_VERSIONS) if _native is not None else ()


class PythonBatchDecoder:
    """The reference path: `Decoder.decode` and `triplet_from_cutouts`, message by message."""

    path: Implementation = "python"

    def __init__(
        self,
        schema_dir: Path | None = None,
        registry_url: str | RegistryOptions | None = None,
        limits: DecodeLimits = DEFAULT_LIMITS,
    ) -> None:
        self.decoder = Decoder(schema_dir, registry_url, limits)

    def preprocessing(self, version: str) -> Implementation:
        return "python"

    def decode(self, data: bytes) -> list[DecodeResult]:
        return self.decoder.decode(data)

    def decode_batch(self, messages: Sequence[bytes], version: str = PP_V1) -> DecodedBatch:
        items: list[DecodedItem] = []
        rows: list[np.ndarray] = []
        for message, data in enumerate(messages):
            python_items(self.decoder, message, data, items, rows, version)
        return DecodedBatch(items, _stack(rows), version)


def python_items(
    decoder: Decoder,
    message: int,
    data: bytes,
    items: list[DecodedItem],
    rows: list[np.ndarray],
    version: str | None,
) -> None:
    """Decode one message on the Python path, appending its items and (with a preprocessing
    `version`) their triplet rows."""
    for result in decoder.decode(data):
        item = DecodedItem(message, result, None)
        items.append(item if version is None else _with_triplet(item, rows, version, decoder.limits))


def _with_triplet(
    item: DecodedItem, rows: list[np.ndarray], version: str, limits: DecodeLimits
) -> DecodedItem:
    """The item with the triplet of its alert preprocessed in Python and added to `rows`."""
    if not isinstance(item.result, Alert):
        return item
    try:
        rows.append(triplet_within(item.result.cutouts, version, limits))
    except DecodeError as exc:
        return DecodedItem(item.message, item.result, None, exc)
    except Exception as exc:  # preprocessing must not take the batch down either
        return DecodedItem(item.message, item.result, None, unforeseen(exc))
    return DecodedItem(item.message, item.result, len(rows) - 1)


def triplet_within(cutouts: Cutouts, version: str, limits: DecodeLimits = DEFAULT_LIMITS) -> np.ndarray:
    """`preprocessing.triplet_from_cutouts` with the stamps read under `limits`."""
    stamps = {"science": cutouts.science, "template": cutouts.template, "difference": cutouts.difference}
    missing = [name for name, stamp in stamps.items() if stamp is None]
    if missing:
        raise DecodeError(Reason.MISSING_CUTOUTS, f"alert has no {', '.join(missing)} cutout")
    sci, ref, diff = (read_stamp(stamp, limits) for stamp in stamps.values() if stamp is not None)
    return make_triplet(sci, ref, diff, version=version)


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    if not rows:
        return _empty_rows(0)
    return np.stack(rows).astype(np.float32, copy=False)


def _empty_rows(rows: int) -> np.ndarray:
    """Room for `rows` triplets, filled by the core (`decode_batch`'s `alloc`)."""
    return np.empty((rows, *TRIPLET_SHAPE), dtype=np.float32)


def _full_record(decoder: Decoder, data: bytes, index: int) -> dict[str, Any]:
    result = decoder.decode(data)[index]
    if isinstance(result, DecodeFailure):
        raise result.error
    return result.record()


class NativeBatchDecoder:
    """The compiled core, with `Decoder` for schemas, full records and what the core does not read."""

    path: Implementation = "native"

    def __init__(
        self,
        schema_dir: Path | None = None,
        registry_url: str | RegistryOptions | None = None,
        limits: DecodeLimits = DEFAULT_LIMITS,
    ) -> None:
        if _native is None:
            raise DecodePathError("rbc1000._native is not installed (build native/ with maturin)")
        self.python = Decoder(schema_dir, registry_url, limits)
        self.limits = limits
        self.core = _new_core(limits)
        self._tags: list[tuple[Survey, str]] = [("ztf", "unknown")]  # tag 0: packet-level failures

    def preprocessing(self, version: str) -> Implementation:
        return "native" if version in native_versions() else "python"

    def decode(self, data: bytes) -> list[DecodeResult]:
        items, _ = self._decode(_as_bytes([data]), None)
        return [item.result for item in items]

    def decode_batch(self, messages: Sequence[bytes], version: str = PP_V1) -> DecodedBatch:
        packets = _as_bytes(messages)
        if self.preprocessing(version) == "native":
            return DecodedBatch(*self._decode(packets, version), version)
        decoded, _ = self._decode(packets, None)  # a version the core lacks: its stamps, in Python
        rows: list[np.ndarray] = []
        items = [_with_triplet(item, rows, version, self.limits) for item in decoded]
        return DecodedBatch(items, _stack(rows), version)

    def _decode(self, packets: list[bytes], version: str | None) -> tuple[list[DecodedItem], np.ndarray]:
        """Items and triplets of the packets; without a `version`, no triplets are made."""
        self._bound_plans()
        alloc = _empty_rows if version is not None else None
        native_rows, entries = self._core_batch(packets, alloc, version or PP_V1)
        failures = self._register_missing(entries)
        if failures is not None:  # new schemas were met: read the batch again with their plans
            native_rows, entries = self._core_batch(packets, alloc, version or PP_V1)
        if native_rows is None:
            native_rows = _empty_rows(0)
        items: list[DecodedItem] = []
        extra_rows: list[np.ndarray] = []
        for message, (kind, payload) in enumerate(entries):
            if kind == "records":
                self._records(message, packets[message], payload, items)
            elif kind == "python":
                before = len(items)
                python_items(self.python, message, packets[message], items, extra_rows, version)
                items[before:] = [_shift(item, len(native_rows)) for item in items[before:]]
            else:  # the Python path refused the schema: same failure as Decoder.decode gives
                items.append(DecodedItem(message, (failures or {})[message], None))
        triplets = native_rows if not extra_rows else np.concatenate([native_rows, _stack(extra_rows)])
        return items, triplets

    def _core_batch(self, packets: list[bytes], alloc: Any, version: str) -> tuple[Any, list[Any]]:
        """The core's entries; if it fails on the batch as a whole, every packet goes to Python."""
        try:
            return self.core.decode_batch(packets, alloc, version)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pyo3 raises a Rust panic as PanicException(BaseException)
            log.warning("native_batch_failed error=%s packets=%d", type(exc).__name__, len(packets))
            return None, [("python", None)] * len(packets)

    def _records(self, message: int, data: bytes, payload: Any, items: list[DecodedItem]) -> None:
        records, tag = payload
        survey, version_hint = self._tags[tag]
        for index, record in enumerate(records):
            if record[0] is not None:
                failure = DecodeError(Reason(record[0]), record[1])
                items.append(DecodedItem(message, DecodeFailure(index, failure), None))
                continue
            _, fields, row, reason, detail = record
            try:
                alert = to_alert(
                    survey, fields, version_hint, partial(_full_record, self.python, data, index)
                )
            except DecodeError as exc:
                items.append(DecodedItem(message, DecodeFailure(index, exc), None))
                continue
            except (TypeError, ValueError, OverflowError) as exc:
                failure = DecodeError(Reason.BAD_FIELD, f"{type(exc).__name__}: {exc}")
                items.append(DecodedItem(message, DecodeFailure(index, failure), None))
                continue
            except Exception as exc:
                items.append(DecodedItem(message, DecodeFailure(index, unforeseen(exc)), None))
                continue
            error = None if reason is None else DecodeError(Reason(reason), detail)
            items.append(DecodedItem(message, alert, None if row < 0 else row, error))

    def _register_missing(self, entries: list[tuple[str, Any]]) -> dict[int, DecodeFailure] | None:
        """Register plans for schemas the core has not seen; None when there were none."""
        if not any(kind in ("need_json", "need_id") for kind, _ in entries):
            return None
        failures: dict[int, DecodeFailure] = {}
        done: dict[Any, DecodeFailure | None] = {}
        for message, (kind, payload) in enumerate(entries):
            if kind not in ("need_json", "need_id"):
                continue
            if (kind, payload) in done:
                if (failure := done[(kind, payload)]) is not None:
                    failures[message] = failure
                continue
            done[(kind, payload)] = None
            try:
                if kind == "need_json":
                    self._add_json(payload)
                else:
                    self._add_id(payload)
            except DecodeError as exc:
                failures[message] = done[(kind, payload)] = DecodeFailure(0, exc)
            except Exception as exc:
                failures[message] = done[(kind, payload)] = DecodeFailure(0, unforeseen(exc))
        return failures

    def _add_json(self, schema_json: bytes) -> None:
        plan = self.python.plan_for_json(schema_json, schema_fingerprint(schema_json))
        keep = json.dumps(fields_for(plan.survey))
        native = self.core.add_json_plan(schema_json, keep, self._tag(plan.survey, plan.version_hint))
        log.info("decode_plan kind=container survey=%s native=%s", plan.survey, native)

    def _add_id(self, schema_id: int) -> None:
        plan = self.python.plan_for_id(schema_id)
        schema = json.dumps(self.python.registry.get(schema_id)).encode()
        keep = json.dumps(fields_for(plan.survey))
        native = self.core.add_id_plan(schema_id, schema, keep, self._tag(plan.survey, plan.version_hint))
        log.info(
            "decode_plan kind=confluent schema_id=%d survey=%s native=%s", schema_id, plan.survey, native
        )

    def _bound_plans(self) -> None:
        """At most `schema_cache_size` plans (and the names they intern) in the core: past it,
        an empty core that asks for plans again as schemas come back. Only between batches, as
        a batch with new schemas is decoded twice and both passes must see the same plans."""
        if len(self._tags) - 1 <= self.limits.schema_cache_size:
            return
        log.info("decode_plans_reset plans=%d cap=%d", len(self._tags) - 1, self.limits.schema_cache_size)
        self.core = _new_core(self.limits)
        self._tags = self._tags[:1]

    def _tag(self, survey: Survey, version_hint: str) -> int:
        self._tags.append((survey, version_hint))
        return len(self._tags) - 1


def _new_core(limits: DecodeLimits) -> _native.NativeDecoder:
    return _native.NativeDecoder(
        max_block_bytes=limits.max_block_bytes,
        max_message_bytes=limits.max_message_bytes,
        max_records_per_block=limits.max_records_per_block,
        max_records_per_message=limits.max_records_per_message,
        max_stamp_pixels=limits.max_stamp_pixels,
        max_stamp_bytes=limits.max_stamp_bytes,
    )


def _as_bytes(messages: Sequence[bytes]) -> list[bytes]:
    return [m if type(m) is bytes else bytes(m) for m in messages]


def _shift(item: DecodedItem, offset: int) -> DecodedItem:
    """The item with its triplet row moved past the `offset` rows that the core produced."""
    return (
        item
        if item.row is None
        else DecodedItem(item.message, item.result, item.row + offset, item.triplet_error)
    )


def resolve_path(path: DecodePath) -> Implementation:
    """The implementation `path` means here: 'auto' is native when the extension is installed."""
    if path == "native" and _native is None:
        raise DecodePathError("decode_path is native but rbc1000._native is not installed")
    if path == "auto":
        return "native" if _native is not None else "python"
    return path


def make_batch_decoder(
    path: DecodePath = "auto",
    schema_dir: Path | None = None,
    registry_url: str | RegistryOptions | None = None,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> BatchDecoder:
    """The decoder for `path` (see `resolve_path`); logs which one it is, once.

    Raises DecodePathError when `path` is 'native' and the extension is not installed.
    """
    resolved = resolve_path(path)
    log.info(
        "decode_path_chosen path=%s asked=%s native_available=%s native_preprocessing=%s",
        resolved,
        path,
        _native is not None,
        ",".join(native_versions()) or "-",
    )
    if resolved == "native":
        return NativeBatchDecoder(schema_dir, registry_url, limits)
    return PythonBatchDecoder(schema_dir, registry_url, limits)
