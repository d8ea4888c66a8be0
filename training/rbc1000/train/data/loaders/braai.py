"""braai's format (Duev et al. 2019): an `.npy` of N x 63 x 63 x 3 triplets plus a CSV.

The CSV has one row per triplet, in the same order, with a `label` column (1/0 or
real/bogus) and, usually, `candid` (used as the sample id `braai:<candid>`). Without an
explicit CSV the loader looks for `<stem>.csv` beside the `.npy`, then for the only CSV in
that directory. braai's labels are human-vetted, so proxy is False.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from rbc1000.model.preprocessing import PREPROCESSING_VERSION
from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.loaders.common import DatasetError, LoadedDataset, TripletBuilder, parse_label


def find_labels_csv(npy: Path) -> Path:
    """The CSV that goes with `npy`: `<stem>.csv`, else the only CSV beside it."""
    beside = npy.with_suffix(".csv")
    if beside.exists():
        return beside
    candidates = sorted(npy.parent.glob("*.csv"))
    if len(candidates) == 1:
        return candidates[0]
    raise DatasetError(
        f"{npy}: cannot tell which CSV holds its labels (found "
        f"{[c.name for c in candidates]}); pass labels=FILE.csv"
    )


def read_labels_csv(path: Path, expected_rows: int) -> tuple[list[int], list[str] | None]:
    """(labels, candids or None) from a braai CSV, checked against the number of triplets."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: unreadable labels CSV ({exc})") from None
    if not rows or "label" not in rows[0]:
        raise DatasetError(f"{path}: needs a header with a 'label' column (and usually 'candid')")
    if len(rows) != expected_rows:
        raise DatasetError(
            f"{path}: {len(rows)} label rows for {expected_rows} triplets; "
            "the CSV must have one row per triplet, in the same order"
        )
    labels = [parse_label(r["label"], f"{path} row {i + 2}") for i, r in enumerate(rows)]
    candids = [r["candid"].strip() for r in rows] if "candid" in rows[0] else None
    return labels, candids


def load_braai(
    npy: Path, labels: Path | None = None, progress: bool = False, preprocessing: str = PREPROCESSING_VERSION
) -> LoadedDataset:
    """Read braai triplets and labels; each triplet goes through make_triplet."""
    try:
        cube = np.load(npy, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{npy}: not a readable .npy array ({exc})") from None
    if cube.ndim != 4 or cube.shape[-1] != 3:
        raise DatasetError(
            f"{npy}: shape {cube.shape}, expected N x H x W x 3 (science, reference, difference)"
        )
    csv_path = labels or find_labels_csv(npy)
    y, candids = read_labels_csv(csv_path, len(cube))
    ids = [f"braai:{c}" for c in candids] if candids else [f"{npy.stem}:{i}" for i in range(len(y))]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{csv_path}: candid values repeat; sample ids must be unique")
    builder = TripletBuilder(len(cube), preprocessing)
    builder.add_cube(cube, npy, "triplet", progress)
    x, nonfinite = builder.arrays()
    dataset = TripletDataset(
        x,
        np.array(y, dtype=np.int64),
        np.array(ids),
        np.zeros(len(y), dtype=bool),
        np.full(len(y), ""),
        name=f"braai:{npy.stem}",
    )
    return LoadedDataset(dataset, "braai", nonfinite, builder.shapes)
