"""The one in-memory dataset type every loader returns and every training stage consumes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from rbc1000.model.preprocessing import TRIPLET_SHAPE


@dataclass(frozen=True)
class TripletDataset:
    """Preprocessed triplets with labels.

    x: float32 [N, 3, 63, 63], the output of `rbc1000.model.preprocessing.make_triplet`;
    y: int64 [N], 1 = real, 0 = bogus;
    ids: str [N], stable sample ids (alert id, or `<set>:<row>`);
    proxy: bool [N], True where the label is a model score (ZTF drb), not a human's;
    family: str [N], how the sample was made ("alert", "cosmic_ray", ...; "" when unknown);
    splits: named index arrays into the samples ("test", "pool"), fixed with the dataset.
    """

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    proxy: np.ndarray
    family: np.ndarray
    name: str = "dataset"
    splits: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.y)
        if self.x.shape[1:] != TRIPLET_SHAPE or self.x.dtype != np.float32 or len(self.x) != n:
            raise ValueError(f"x must be float32 [N, 3, 63, 63], got {self.x.dtype} {self.x.shape}")
        for name in ("ids", "proxy", "family"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} samples")
        if n and not np.isin(self.y, (0, 1)).all():
            raise ValueError("labels must be 0 (bogus) or 1 (real)")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray, name: str | None = None) -> TripletDataset:
        """The samples at `index` (splits are dropped: they index the parent)."""
        return TripletDataset(
            self.x[index],
            self.y[index],
            self.ids[index],
            self.proxy[index],
            self.family[index],
            name or self.name,
        )

    def split(self, name: str) -> TripletDataset:
        if name not in self.splits:
            raise KeyError(f"dataset {self.name!r} has no split {name!r}; it has {sorted(self.splits)}")
        return self.subset(self.splits[name], f"{self.name}:{name}")

    def fingerprint(self) -> str:
        """SHA-256 over ids, labels and pixels: two datasets with the same fingerprint are the same."""
        h = hashlib.sha256()
        h.update("\n".join(map(str, self.ids)).encode())
        h.update(np.ascontiguousarray(self.y, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.x).tobytes())
        return h.hexdigest()[:16]
