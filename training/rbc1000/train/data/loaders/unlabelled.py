"""Real alerts without labels, for the SSLS unlabelled pool: the stream the model will serve.

A spec is `alerts:PATH[,PATH...]` or a bare PATH (files, directories, tarballs of alert
packets). Every alert with three readable stamps becomes one triplet; its label, if any
exists anywhere, is not read. ZTF's own scores (`drb` where versioned, `rb`) are kept beside
the triplets only to report how often the pseudo-labels agree with them, never to train.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rbc1000.model.preprocessing import PREPROCESSING_VERSION
from rbc1000.train.data.loaders.alert_stamps import SkipCounter, drb_score, iter_alert_stamps
from rbc1000.train.data.loaders.common import TripletBuilder


@dataclass(frozen=True)
class UnlabelledAlerts:
    """Triplets of real alerts with their ids (`<survey>:<alert id>`) and ZTF's own scores."""

    x: np.ndarray
    ids: np.ndarray
    drb: np.ndarray  # NaN where the alert has no versioned drb
    rb: np.ndarray  # NaN where the alert has no rb
    skipped: dict[str, dict[str, str | int]]

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def empty(cls) -> UnlabelledAlerts:
        x = np.empty((0, 3, 63, 63), dtype=np.float32)
        return cls(x, np.array([], dtype=str), np.empty(0), np.empty(0), {})


def alert_paths(spec: str) -> list[Path]:
    """The paths of an `alerts:PATH[,PATH]` (or bare PATH) spec."""
    text = spec.removeprefix("alerts:")
    return [Path(p) for p in text.split(",") if p]


def load_unlabelled_alerts(
    specs: Iterable[str], exclude: set[str], preprocessing: str = PREPROCESSING_VERSION
) -> UnlabelledAlerts:
    """Every readable alert under `specs` whose id is not in `exclude`, preprocessed."""
    skipped = SkipCounter.empty()
    builder = TripletBuilder(256, preprocessing)
    ids: list[str] = []
    drb: list[float] = []
    rb: list[float] = []
    paths = [p for spec in specs for p in alert_paths(spec)]
    if not paths:
        return UnlabelledAlerts.empty()
    for item in iter_alert_stamps(paths, skipped):
        sample_id = f"{item.alert.survey}:{item.alert.alert_id}"
        if sample_id in exclude:
            skipped.add("in_the_datasets", item.path)
            continue
        builder.add(item.science, item.reference, item.difference, item.path)
        ids.append(sample_id)
        score = drb_score(item.alert)
        drb.append(np.nan if score is None else score)
        rb.append(np.nan if item.alert.rb is None else float(item.alert.rb))
    x, _ = builder.arrays()
    return UnlabelledAlerts(
        x.copy(), np.array(ids, dtype=str), np.array(drb), np.array(rb), skipped.summary()
    )
