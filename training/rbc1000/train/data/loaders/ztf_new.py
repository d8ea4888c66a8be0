"""RB-C1000's ZTF-NEW format: FITS tables `new_real_<set>.fits` and `new_bogus_<set>.fits`.

Each table has a `star_stamp` column of H x W x 3 stamps (channels: science, reference,
difference), as in the paper's ZTF-NEWg/r/m sets, so anyone holding those reproduces the
experiment unchanged. Tables written by this project also carry `sample_id`, `family` and
`proxy` columns; without them ids are `<set>:real:<row>` / `<set>:bogus:<row>`, the family is
"" and labels count as human labels. A dataset card (`dataset_card.json`) beside the tables,
when present, supplies the fixed splits.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from astropy.io import fits

from rbc1000.model.preprocessing import PREPROCESSING_VERSION
from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.loaders.common import DatasetError, LoadedDataset, TripletBuilder

_TABLE = re.compile(r"^new_(real|bogus)_(.+)\.fits$")
ID_LEN, FAMILY_LEN = 40, 24


def find_sets(directory: Path) -> dict[str, dict[str, Path]]:
    """{set name: {"real": path, "bogus": path}} for the ZTF-NEW tables in `directory`."""
    sets: dict[str, dict[str, Path]] = {}
    for path in sorted(directory.iterdir()):
        match = _TABLE.match(path.name)
        if match:
            sets.setdefault(match.group(2), {})[match.group(1)] = path
    return sets


def is_ztf_new_dir(path: Path) -> bool:
    return path.is_dir() and bool(find_sets(path))


def table_dtype(height: int, width: int) -> np.dtype:
    """Row layout of the tables this project writes (big-endian, as FITS stores it)."""
    return np.dtype(
        [
            ("star_stamp", ">f4", (height, width, 3)),
            ("sample_id", f"S{ID_LEN}"),
            ("family", f"S{FAMILY_LEN}"),
            ("proxy", "?"),
        ]
    )


def write_table(path: Path, rows: np.ndarray) -> None:
    """Write rows of `table_dtype` as a FITS binary table (no dates: same rows, same bytes).

    The structured array is handed to astropy as is (it is already big-endian), which writes
    star_stamp with TDIM (3,W,H) and avoids a second in-memory copy of the stamps.
    """
    if rows.dtype != table_dtype(*rows.dtype["star_stamp"].shape[:2]):
        raise ValueError(f"rows must have dtype table_dtype(H, W), got {rows.dtype}")
    fits.BinTableHDU(data=rows, name="STAMPS").writeto(path, overwrite=True)


def load_ztf_new(
    directory: Path,
    set_name: str | None = None,
    progress: bool = False,
    preprocessing: str = PREPROCESSING_VERSION,
) -> LoadedDataset:
    """Read one set of ZTF-NEW tables (the only one present, or `set_name`)."""
    sets = find_sets(directory)
    if not sets:
        raise DatasetError(f"{directory}: no new_real_<set>.fits or new_bogus_<set>.fits here")
    if set_name is None:
        if len(sets) > 1:
            raise DatasetError(
                f"{directory} holds sets {sorted(sets)}; choose one with '?set=NAME' or set_name="
            )
        set_name = next(iter(sets))
    if set_name not in sets:
        raise DatasetError(f"{directory}: no set {set_name!r}; found {sorted(sets)}")
    tables = sets[set_name]
    counts = {cls: _row_count(tables[cls]) for cls in tables}
    builder = TripletBuilder(sum(counts.values()), preprocessing)
    ids, labels, families, proxy = [], [], [], []
    for cls in ("real", "bogus"):
        if cls in tables:
            meta = _read_table(tables[cls], set_name, cls, builder, progress)
            ids += meta[0]
            families += meta[1]
            proxy += meta[2]
            labels += [1 if cls == "real" else 0] * len(meta[0])
    x, nonfinite = builder.arrays()
    dataset = TripletDataset(
        x,
        np.array(labels, dtype=np.int64),
        np.array(ids),
        np.array(proxy, dtype=bool),
        np.array(families),
        name=f"ztf-new:{set_name}",
    )
    return LoadedDataset(dataset, "ztf-new", nonfinite, builder.shapes)


def _open(path: Path) -> fits.HDUList:
    try:
        return fits.open(path, memmap=True)
    except (OSError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: not a readable FITS file ({exc}); re-create or remove it") from None


def _stamps_hdu(hdul: fits.HDUList, path: Path) -> fits.BinTableHDU:
    for hdu in hdul:
        if isinstance(hdu, fits.BinTableHDU) and "star_stamp" in hdu.columns.names:
            return hdu
    raise DatasetError(
        f"{path}: no binary table with a 'star_stamp' column (ZTF-NEW format "
        "needs star_stamp of H x W x 3 stamps)"
    )


def _row_count(path: Path) -> int:
    with _open(path) as hdul:
        return len(_stamps_hdu(hdul, path).data)


def _read_table(
    path: Path, set_name: str, cls: str, builder: TripletBuilder, progress: bool
) -> tuple[list[str], list[str], list[bool]]:
    with _open(path) as hdul:
        data = _stamps_hdu(hdul, path).data
        names = data.columns.names
        try:
            stamps = data["star_stamp"]
        except (OSError, ValueError, TypeError) as exc:
            raise DatasetError(f"{path}: star_stamp column unreadable ({exc})") from None
        if stamps.ndim != 4 or stamps.shape[-1] != 3:
            raise DatasetError(
                f"{path}: star_stamp rows have shape {stamps.shape[1:]}, "
                "expected H x W x 3 (science, reference, difference)"
            )
        builder.add_cube(stamps, path, "row", progress)
        n = len(stamps)
        ids = (
            [s.strip() for s in data["sample_id"].astype(str)]
            if "sample_id" in names
            else [f"{set_name}:{cls}:{row}" for row in range(n)]
        )
        families = [s.strip() for s in data["family"].astype(str)] if "family" in names else [""] * n
        proxy = [bool(v) for v in data["proxy"]] if "proxy" in names else [False] * n
    return ids, families, proxy
