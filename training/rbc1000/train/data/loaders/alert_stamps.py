"""Decoded alerts with their three stamps read, for the alert-based loaders and the simulator.

Alerts are read through the service's own decoder (`rbc1000.alerts.sources.iter_alerts`) and stamp
reader (`rbc1000.alerts.fits.read_stamp`), so training sees exactly what serving sees. Anything that
cannot be used is counted by reason, never silently dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure
from rbc1000.alerts.fits import read_stamp
from rbc1000.alerts.sources import iter_alerts


@dataclass(frozen=True)
class AlertStamps:
    """One decoded alert, where it came from, and its stamps as float32 images."""

    alert: Alert
    path: str
    science: np.ndarray
    reference: np.ndarray
    difference: np.ndarray


@dataclass
class SkipCounter:
    """Reasons why packets or records were not used, with one example path for each."""

    counts: Counter[str]
    examples: dict[str, str]

    @classmethod
    def empty(cls) -> SkipCounter:
        return cls(Counter(), {})

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        self.examples.setdefault(reason, where)

    def summary(self) -> dict[str, dict[str, str | int]]:
        return {r: {"count": n, "example": self.examples[r]} for r, n in self.counts.items()}


def iter_alert_stamps(
    paths: Iterable[str | Path], skipped: SkipCounter, survey: str | None = None
) -> Iterator[AlertStamps]:
    """Alerts under `paths` (files, directories, tarballs) whose three stamps can be read.

    Decode failures, missing or unreadable stamps and (when `survey` is given) alerts of other
    surveys are recorded in `skipped`. The first copy of a repeated alert id wins.
    """
    path_list = [Path(p) for p in paths]
    for path in path_list:
        if not path.exists():
            raise FileNotFoundError(
                f"alert path {path} does not exist; pass a file, directory or tarball of Avro alert packets"
            )
    seen: set[int] = set()
    for packet, _, result in iter_alerts(path_list):
        if isinstance(result, DecodeFailure):
            skipped.add(f"decode:{result.error.reason}", packet.path)
            continue
        if survey is not None and result.survey != survey:
            skipped.add(f"survey:{result.survey}", packet.path)
            continue
        if result.alert_id in seen:
            skipped.add("duplicate_alert_id", packet.path)
            continue
        stamps = _read_stamps(result, packet.path, skipped)
        if stamps is not None:
            seen.add(result.alert_id)
            yield stamps


def _read_stamps(alert: Alert, path: str, skipped: SkipCounter) -> AlertStamps | None:
    cut = alert.cutouts
    if cut.science is None or cut.template is None or cut.difference is None:
        skipped.add("missing_cutouts", path)
        return None
    try:
        sci, ref, diff = (read_stamp(b) for b in (cut.science, cut.template, cut.difference))
    except DecodeError as exc:
        skipped.add(f"stamp:{exc.reason}", path)
        return None
    if sci.shape != ref.shape or sci.shape != diff.shape:
        skipped.add("stamp_shapes_differ", path)
        return None
    if not all(np.isfinite(s).any() for s in (sci, ref, diff)):
        skipped.add("stamp:empty_stamp", path)
        return None
    return AlertStamps(alert, path, sci, ref, diff)


def drb_score(alert: Alert) -> float | None:
    """ZTF's braai score when its version is set (placeholders without a version are ignored)."""
    if alert.drb is None or not alert.drbversion:
        return None
    return float(alert.drb)
