"""What every loader shares: the loaded-dataset record, errors, and triplet assembly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rbc1000.alerts.alert import DecodeError
from rbc1000.model.preprocessing import PREPROCESSING_VERSION, TRIPLET_SHAPE, check_version, make_triplet
from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.splits import (
    DEFAULT_SPLIT_SEED,
    DEFAULT_TEST_FRACTION,
    splits_from_ids,
    stratified_split,
)


class DatasetError(ValueError):
    """A dataset that cannot be read as asked; the message names the file and what to do."""


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset plus what was seen on the way: raw-stamp statistics and skipped inputs.

    nonfinite: int [N, 3], NaN/inf pixels per raw stamp (science, reference, difference)
    before preprocessing turned them into 0; raw_shapes: "HxW" -> count; skipped: reason ->
    {"count", "example"}; card: the dataset card found beside the data, if any.
    """

    dataset: TripletDataset
    source_format: str
    nonfinite: np.ndarray
    raw_shapes: dict[str, int]
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)
    card: dict[str, Any] | None = None


class TripletBuilder:
    """Collects stamps into a preallocated float32 [N, 3, 63, 63] array via make_triplet."""

    def __init__(self, capacity: int, version: str = PREPROCESSING_VERSION) -> None:
        try:
            self.version = check_version(version)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        self.x = np.empty((capacity, *TRIPLET_SHAPE), dtype=np.float32)
        self.nonfinite = np.zeros((capacity, 3), dtype=np.int64)
        self.shapes: dict[str, int] = {}
        self.n = 0

    def add(self, science: np.ndarray, reference: np.ndarray, difference: np.ndarray, where: str) -> None:
        """Preprocess one triplet; `where` names the file and row for error messages."""
        if self.n == len(self.x):
            self.x = np.concatenate([self.x, np.empty_like(self.x[: max(1, self.n)])])
            self.nonfinite = np.concatenate([self.nonfinite, np.zeros_like(self.nonfinite[: max(1, self.n)])])
        stamps = (science, reference, difference)
        try:
            self.x[self.n] = make_triplet(*stamps, version=self.version)
        except DecodeError as exc:
            raise DatasetError(f"{where}: stamp cannot be preprocessed ({exc})") from None
        self.nonfinite[self.n] = [int((~np.isfinite(s)).sum()) for s in stamps]
        key = "x".join(map(str, np.shape(science)))
        self.shapes[key] = self.shapes.get(key, 0) + 1
        self.n += 1

    def add_cube(
        self, stamps: np.ndarray, source: Path, row_name: str = "row", progress: bool = False
    ) -> None:
        """Add every (science, reference, difference) triplet of an N x H x W x 3 array."""
        rows: Any = range(len(stamps))
        if progress:
            from tqdm import tqdm

            rows = tqdm(rows, desc=f"reading {source.name}", unit="triplet")
        for row in rows:
            stamp = np.asarray(stamps[row], dtype=np.float32)
            self.add(stamp[..., 0], stamp[..., 1], stamp[..., 2], f"{source} {row_name} {row}")

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[: self.n], self.nonfinite[: self.n]


def attach_splits(
    dataset: TripletDataset,
    recorded: Mapping[str, Sequence[str]] | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    split_seed: int = DEFAULT_SPLIT_SEED,
    where: str = "",
) -> TripletDataset:
    """The dataset with its fixed splits: the recorded ones when given, else computed."""
    if recorded:
        splits = splits_from_ids(dataset.ids, recorded, where or "the dataset card")
    else:
        splits = stratified_split(dataset.ids, dataset.y, dataset.family, test_fraction, split_seed)
    return TripletDataset(
        dataset.x, dataset.y, dataset.ids, dataset.proxy, dataset.family, dataset.name, splits
    )


LABEL_WORDS = {
    "1": 1,
    "real": 1,
    "true": 1,
    "r": 1,
    "yes": 1,
    "0": 0,
    "bogus": 0,
    "false": 0,
    "b": 0,
    "no": 0,
}


def parse_label(value: object, where: str) -> int:
    """1/0, real/bogus, true/false (any case) -> 1 or 0; anything else is an error naming `where`."""
    text = str(value).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text not in LABEL_WORDS:
        raise DatasetError(f"{where}: label {value!r} is not one of 1/0, real/bogus, true/false")
    return LABEL_WORDS[text]
