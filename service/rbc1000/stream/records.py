"""The scored record: what the service publishes for each alert, and how it is written.

The schema is `schemas/scored/scored_alert.avsc` (scored schema 1.1; its README says what
1.0 readers can read of it). Two encodings:

- **Kafka** (scored and labelling topics): one record per message, in the output framing
  of `rbc1000.alerts.framing.RecordFramer`: `container` (default: an Avro object container
  with the schema inside, readable by any Avro library) or `confluent` (the 5-byte header
  with the id a schema registry returned for `<topic>-value`, then schemaless Avro).
  `decode_kafka` reads either back. `SCORED_SCHEMA_ID` (30101) is the id of this schema in
  the project's local id convention (30000 + major*100 + minor), used where no registry is.
- **Files** (`rbc score --out`): chosen by extension. `.avro`: an Avro object container file
  with the scored schema (packet bytes included unless turned off); `.csv` and `.jsonl`: the
  same field names without `alert_packet`, `scored_at` written as an ISO-8601 UTC string.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol

import fastavro
from fastavro.write import Writer as AvroWriter

from rbc1000.alerts.alert import Alert
from rbc1000.alerts.framing import Framing, RecordFramer, read_framed
from rbc1000.assets import scored_schema_path
from rbc1000.model.contract import ModelInfo

if TYPE_CHECKING:
    from rbc1000.model.decisions import ScoredAlert

SCHEMA_PATH = scored_schema_path()
SCORED_SCHEMA_ID = 30101
ROW_FIELDS = (
    "alert_id",
    "object_id",
    "survey",
    "mjd",
    "ra",
    "dec",
    "band",
    "p_real",
    "decision",
    "model_name",
    "model_version",
    "scored_at",
    "survey_score",
    "survey_score_name",
    "survey_score_version",
    "rb",
    "selection_reason",
)
AVRO_FIELDS = (
    *ROW_FIELDS[: ROW_FIELDS.index("scored_at") + 1],
    "alert_packet",
    *ROW_FIELDS[ROW_FIELDS.index("scored_at") + 1 :],
)


@cache
def scored_schema() -> Any:
    """The parsed scored schema (parsed once: fastavro keeps named types per parse)."""
    return fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text()))


def now_ms() -> int:
    """Milliseconds since the Unix epoch, UTC."""
    return int(datetime.now(UTC).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class ScoredRecord:
    """One scored alert as published; field names are those of the scored schema."""

    alert_id: str
    object_id: str
    survey: str
    mjd: float
    ra: float
    dec: float
    band: str
    p_real: float | None
    decision: str
    model_name: str | None
    model_version: str | None
    scored_at: int
    alert_packet: bytes | None
    survey_score: float | None = None
    survey_score_name: str | None = None
    survey_score_version: str | None = None
    rb: float | None = None
    selection_reason: str | None = None

    @classmethod
    def build(
        cls, scored: ScoredAlert, info: ModelInfo, packet: bytes | None, scored_at: int | None = None
    ) -> ScoredRecord:
        """The record for `scored`; `packet` None leaves the bytes out. The model named is the
        one that scored the alert (`scored.model`, else `info`), none for an unscored alert."""
        alert = scored.alert
        model = None if scored.p_real is None else (scored.model or info)
        return cls(
            alert_id=str(alert.alert_id),
            object_id=str(alert.object_id),
            survey=alert.survey,
            mjd=float(alert.mjd),
            ra=float(alert.ra),
            dec=float(alert.dec),
            band=str(alert.band),
            p_real=None if scored.p_real is None else float(scored.p_real),
            decision=scored.decision,
            model_name=None if model is None else model.name,
            model_version=None if model is None else model.version,
            scored_at=now_ms() if scored_at is None else scored_at,
            alert_packet=packet,
            survey_score=_optional_float(alert.survey_score),
            survey_score_name=alert.survey_score_name if alert.survey_score is not None else None,
            survey_score_version=survey_score_version(alert),
            rb=_optional_float(alert.rb) if alert.survey == "ztf" else None,
            selection_reason=scored.selection,
        )

    def avro(self) -> dict[str, Any]:
        """The record as a dict for fastavro."""
        return {name: getattr(self, name) for name in AVRO_FIELDS}

    def row(self) -> dict[str, Any]:
        """The record for CSV/JSONL: no packet bytes, scored_at as an ISO-8601 UTC string."""
        out = {name: getattr(self, name) for name in ROW_FIELDS}
        out["scored_at"] = iso_utc(self.scored_at)
        return out


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def survey_score_version(alert: Alert) -> str | None:
    """The version of the survey's own scorer, when the alert names it (ZTF only)."""
    if alert.survey_score is None:
        return None
    version = {"drb": alert.drbversion, "rb": alert.rbversion}.get(alert.survey_score_name or "")
    return version or None


def iso_utc(ms: int) -> str:
    """Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def scored_framer(
    framing: Framing = "container", schema_ids: Mapping[str, int] | None = None
) -> RecordFramer:
    """The framer of scored records; Confluent ids per topic, else the local `SCORED_SCHEMA_ID`."""
    return RecordFramer(scored_schema(), framing, schema_ids, default_id=SCORED_SCHEMA_ID)


@cache
def _container_framer() -> RecordFramer:
    return scored_framer("container")


def encode_kafka(record: ScoredRecord, topic: str = "", framer: RecordFramer | None = None) -> bytes:
    """The message value of one scored record (default: a self-describing Avro container)."""
    return (framer or _container_framer()).frame(record.avro(), topic)


def decode_kafka(data: bytes, schema_ids: Collection[int] | None = None) -> dict[str, Any]:
    """Read a scored message back from either framing; ValueError when it is not one.

    A Confluent frame is read with the local schema whatever its id unless `schema_ids`
    names the ids to accept (a registry's ids are its own).
    """
    return read_framed(data, scored_schema(), schema_ids)


class RecordWriter(Protocol):
    """Writes scored records to a file; use as a context manager."""

    def write(self, record: ScoredRecord) -> None: ...

    def close(self) -> None: ...


class _FileWriter:
    def __init__(self, path: Path, binary: bool) -> None:
        self._fo: IO[Any] = path.open("wb") if binary else path.open("w", newline="")

    def write(self, record: ScoredRecord) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._fo.close()

    def __enter__(self) -> _FileWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AvroFileWriter(_FileWriter):
    """Avro object container file with the scored schema."""

    def __init__(self, path: Path, include_packets: bool = True) -> None:
        super().__init__(path, binary=True)
        self._include_packets = include_packets
        self._writer = AvroWriter(self._fo, scored_schema(), codec="null")

    def write(self, record: ScoredRecord) -> None:
        data = record.avro()
        if not self._include_packets:
            data["alert_packet"] = None
        self._writer.write(data)

    def close(self) -> None:
        self._writer.flush()
        super().close()


class CsvWriter(_FileWriter):
    """CSV with a header row of the scored schema's field names, packet bytes left out."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, binary=False)
        self._csv = csv.DictWriter(self._fo, fieldnames=ROW_FIELDS)
        self._csv.writeheader()

    def write(self, record: ScoredRecord) -> None:
        self._csv.writerow(record.row())


class JsonlWriter(_FileWriter):
    """One JSON object per line, packet bytes left out."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, binary=False)

    def write(self, record: ScoredRecord) -> None:
        self._fo.write(json.dumps(record.row()) + "\n")


FORMATS = (".avro", ".csv", ".jsonl")


def open_writer(path: str | Path, include_packets: bool = True) -> AvroFileWriter | CsvWriter | JsonlWriter:
    """A writer chosen by the file extension (.avro, .csv or .jsonl)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".avro":
        return AvroFileWriter(path, include_packets)
    if suffix == ".csv":
        return CsvWriter(path)
    if suffix == ".jsonl":
        return JsonlWriter(path)
    raise ValueError(f"cannot tell the output format of {path}: use one of {', '.join(FORMATS)}")


def read_records(path: str | Path) -> list[Mapping[str, Any]]:
    """Read back a file written by `open_writer` (for tests and quick looks)."""
    path = Path(path)
    if path.suffix.lower() == ".avro":
        with path.open("rb") as fo:
            return [dict(r) for r in fastavro.reader(fo) if isinstance(r, dict)]
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as fo:
            return list(csv.DictReader(fo))
    with path.open() as fo:
        return [json.loads(line) for line in fo if line.strip()]
