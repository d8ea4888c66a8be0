"""PROXY labels from ZTF's own deep-learning score `drb` (braai): not human labels.

Only alerts whose `drbversion` is non-empty count (some Spark rewrites carry a placeholder
drb = 0 without a version). drb >= `real_min` (default 0.9) is real, drb <= `bogus_max`
(default 0.1) is bogus, anything between is left out. Every sample is marked proxy=True,
and whatever is trained or measured on these labels must say it learned from ZTF's model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rbc1000.model.preprocessing import PREPROCESSING_VERSION
from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.loaders.alert_stamps import SkipCounter, drb_score, iter_alert_stamps
from rbc1000.train.data.loaders.common import DatasetError, LoadedDataset, TripletBuilder

DEFAULT_REAL_MIN = 0.9
DEFAULT_BOGUS_MAX = 0.1


def load_proxy(
    alert_paths: Iterable[str | Path],
    real_min: float = DEFAULT_REAL_MIN,
    bogus_max: float = DEFAULT_BOGUS_MAX,
    progress: bool = False,
    preprocessing: str = PREPROCESSING_VERSION,
) -> LoadedDataset:
    """Alerts under `alert_paths` labelled by drb thresholds; ids are `ztf:<candid>`."""
    if not 0.0 <= bogus_max < real_min <= 1.0:
        raise DatasetError(f"proxy thresholds need 0 <= bogus ({bogus_max}) < real ({real_min}) <= 1")
    alert_paths = [Path(p) for p in alert_paths]
    skipped = SkipCounter.empty()
    builder = TripletBuilder(256, preprocessing)
    ids, labels, families = [], [], []
    stream = iter_alert_stamps(alert_paths, skipped)
    if progress:
        from tqdm import tqdm

        stream = tqdm(stream, desc="reading alerts", unit="alert")
    for item in stream:
        score = drb_score(item.alert)
        if score is None:
            skipped.add("no_drb_version", item.path)
            continue
        if bogus_max < score < real_min:
            skipped.add("drb_between_thresholds", item.path)
            continue
        builder.add(item.science, item.reference, item.difference, item.path)
        labels.append(int(score >= real_min))
        families.append("alert_drb_real" if score >= real_min else "alert_drb_bogus")
        ids.append(f"{item.alert.survey}:{item.alert.alert_id}")
    if not ids:
        raise DatasetError(
            f"no alert with a versioned drb and complete stamps under {[str(p) for p in alert_paths]}"
        )
    x, nonfinite = builder.arrays()
    dataset = TripletDataset(
        x,
        np.array(labels, dtype=np.int64),
        np.array(ids),
        np.ones(len(ids), dtype=bool),
        np.array(families),
        name=f"proxy-drb:{real_min}-{bogus_max}",
    )
    return LoadedDataset(dataset, "proxy-drb", nonfinite, builder.shapes, skipped.summary())
