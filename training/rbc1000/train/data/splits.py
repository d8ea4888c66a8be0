"""Fixed, seeded, stratified splits that belong to a dataset, not to a training run.

A sample's membership depends only on (seed, its id, its class and family), never on the
order of the samples or on which other samples exist: each stratum (label, family) is
ordered by a keyed hash of the ids and the first `test_fraction` of it is the test split.
Everything else is the pool from which a run draws its labelled and unlabelled samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

DEFAULT_TEST_FRACTION = 0.2
DEFAULT_SPLIT_SEED = 0


def _hash_key(seed: int, sample_id: str) -> int:
    digest = hashlib.blake2b(f"{seed}\0{sample_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def stratified_split(
    ids: Sequence[str] | np.ndarray,
    y: np.ndarray,
    family: Sequence[str] | np.ndarray | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
) -> dict[str, np.ndarray]:
    """{"test": indices, "pool": indices}, sorted, stratified by label (and family if given)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    ids = [str(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise ValueError("sample ids must be unique to define a split")
    families = [""] * len(ids) if family is None else [str(f) for f in family]
    strata: dict[tuple[int, str], list[int]] = {}
    for index, (label, fam) in enumerate(zip(np.asarray(y).tolist(), families, strict=True)):
        strata.setdefault((int(label), fam), []).append(index)
    test: list[int] = []
    for members in strata.values():
        members.sort(key=lambda i: _hash_key(seed, ids[i]))
        test.extend(members[: round(test_fraction * len(members))])
    is_test = np.zeros(len(ids), dtype=bool)
    is_test[test] = True
    return {"test": np.flatnonzero(is_test), "pool": np.flatnonzero(~is_test)}


def split_ids(ids: np.ndarray, splits: Mapping[str, np.ndarray]) -> dict[str, list[str]]:
    """The splits as lists of sample ids (how a dataset card records them)."""
    return {name: [str(ids[i]) for i in index] for name, index in splits.items()}


def splits_from_ids(
    ids: np.ndarray, recorded: Mapping[str, Sequence[str]], where: str = "the dataset card"
) -> dict[str, np.ndarray]:
    """Index arrays for splits recorded by sample id; every recorded id must exist."""
    position = {str(sample_id): i for i, sample_id in enumerate(ids)}
    out = {}
    for name, members in recorded.items():
        missing = [m for m in members if m not in position]
        if missing:
            raise ValueError(
                f"split {name!r} in {where} names {len(missing)} sample ids that are "
                f"not in the data (first: {missing[0]!r}); the card does not match "
                "these files: rebuild the dataset or remove its 'splits' entry"
            )
        out[name] = np.sort(np.array([position[m] for m in members], dtype=np.int64))
    return out
