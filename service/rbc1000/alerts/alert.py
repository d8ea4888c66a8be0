"""Typed, immutable records that the decoder hands to the rest of the system.

Everything downstream of the decoder (preprocessing, scoring, Kafka output, training
loaders) works on these records, never on raw Avro dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rbc1000.reasons import Reason

Survey = Literal["ztf", "lsst", "wfst"]


class DecodeError(Exception):
    """A packet, record or stamp that cannot be read; `reason` says which kind of failure."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True, slots=True)
class Cutouts:
    """The raw stamp bytes as the survey shipped them (gzipped FITS for ZTF, plain FITS for Rubin)."""

    science: bytes | None
    template: bytes | None
    difference: bytes | None

    def __repr__(self) -> str:
        sizes = [None if s is None else len(s) for s in (self.science, self.template, self.difference)]
        return f"Cutouts(bytes={sizes})"

    @property
    def complete(self) -> bool:
        return self.science is not None and self.template is not None and self.difference is not None


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert record, decoded through a projection of its writer schema.

    `alert_id` is ZTF's `candid` or Rubin/WFST's `diaSourceId`. Photometry is a PSF magnitude
    (ZTF) or a PSF flux in nJy (Rubin, WFST); the other pair is None. `survey_score` is the
    survey's own real/bogus score (ZTF `drb` when its version is set, else `rb`; Rubin
    `reliability`): a model output, usable only as a proxy label.
    """

    survey: Survey
    schema_version: str
    alert_id: int
    object_id: str
    ra: float
    dec: float
    mjd: float
    band: str
    mag: float | None
    mag_err: float | None
    flux: float | None
    flux_err: float | None
    survey_score: float | None
    survey_score_name: str | None
    rb: float | None
    rbversion: str | None
    drb: float | None
    drbversion: str | None
    fwhm: float | None
    isdiffpos: bool | None
    cutouts: Cutouts
    _full_record: Callable[[], dict[str, Any]] = field(repr=False, compare=False)

    def record(self) -> dict[str, Any]:
        """Decode and return the complete original record (slow path, not used for scoring)."""
        return self._full_record()


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """A record (or whole message) that could not be decoded, with the reason."""

    index: int
    error: DecodeError


DecodeResult = Alert | DecodeFailure
