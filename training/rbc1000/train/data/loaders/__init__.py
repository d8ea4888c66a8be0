"""Labelled triplet datasets from every format we know, behind one call: `load_dataset`.

Dataset specs (a path, optionally `kind:` in front and `?key=value&...` options behind):

- `DIR` or `ztf-new:DIR[?set=NAME]`: RB-C1000 ZTF-NEW tables `new_real_<set>.fits` and
  `new_bogus_<set>.fits` (what `rbc-train simulate` writes); splits from the dataset card
  `dataset_card.json` beside them when it has them.
- `FILE.npy` or `braai:FILE.npy[?labels=FILE.csv]`: braai's N x 63 x 63 x 3 triplets with a
  CSV holding `label` (and `candid`).
- `alerts:PATH[,PATH...]?labels=FILE`: alert packets (files, directories, tarballs) joined by
  alert id with a CSV or JSONL of `alert_id,label[,labeller,labelled_at]`.
- `proxy:PATH[,PATH...][?real=0.9&bogus=0.1]`: alerts labelled by ZTF's drb (PROXY labels).

Options for every kind: `test_fraction` (default 0.2) and `split_seed` (default 0) of the
fixed stratified test split (for ZTF-NEW tables with a card, given only to override the
card's), and `preprocessing` (default: the latest version, `PREPROCESSING_VERSION`).
Keyword arguments to `load_dataset` override options written in the spec; `progress=True`
shows progress bars while stamps are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from rbc1000.model.preprocessing import PREPROCESSING_VERSION
from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.dataset_card import read_card
from rbc1000.train.data.loaders.braai import load_braai
from rbc1000.train.data.loaders.common import DatasetError, LoadedDataset, attach_splits
from rbc1000.train.data.loaders.labelled_alerts import load_labelled_alerts
from rbc1000.train.data.loaders.proxy import DEFAULT_BOGUS_MAX, DEFAULT_REAL_MIN, load_proxy
from rbc1000.train.data.loaders.ztf_new import is_ztf_new_dir, load_ztf_new

__all__ = ["SPEC_HELP", "DatasetError", "LoadedDataset", "load_dataset", "load_dataset_report", "parse_spec"]
SPEC_HELP = (
    "PATH is a dataset spec: DIR (ZTF-NEW tables), FILE.npy (braai), "
    "alerts:PATH?labels=FILE or proxy:PATH[?real=0.9&bogus=0.1]."
)
KINDS = ("ztf-new", "braai", "alerts", "proxy")
_SPLIT_OPTIONS = ("test_fraction", "split_seed")


def parse_spec(spec: str | Path) -> tuple[str, list[Path], dict[str, str]]:
    """(kind, paths, options) of a dataset spec; the kind is guessed from a bare path."""
    text = str(spec)
    kind = ""
    head, sep, rest = text.partition(":")
    if sep and head in KINDS:
        kind, text = head, rest
    text, _, query = text.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    paths = [Path(p) for p in text.split(",") if p] if kind in ("alerts", "proxy") else [Path(text)]
    if not kind:
        kind = _guess_kind(paths[0])
    return kind, paths, options


def _guess_kind(path: Path) -> str:
    if not path.exists():
        raise DatasetError(
            f"{path} does not exist (dataset specs: DIR, FILE.npy, alerts:PATH?labels=FILE, proxy:PATH)"
        )
    if path.suffix == ".npy":
        return "braai"
    if is_ztf_new_dir(path):
        return "ztf-new"
    raise DatasetError(
        f"{path}: not a ZTF-NEW directory (new_real_<set>.fits) nor a braai .npy; "
        "for alert packets say alerts:PATH?labels=FILE or proxy:PATH"
    )


def load_dataset_report(spec: str | Path, **options: Any) -> LoadedDataset:
    """Load a dataset with its splits, plus raw-stamp statistics and skipped inputs."""
    kind, paths, spec_options = parse_spec(spec)
    merged: dict[str, Any] = {**spec_options, **options}
    progress = bool(merged.pop("progress", False))
    pp = str(merged.pop("preprocessing", PREPROCESSING_VERSION))
    split_options = {k: merged.pop(k) for k in _SPLIT_OPTIONS if k in merged}
    card = None
    if kind == "ztf-new":
        card = read_card(paths[0])
        loaded = load_ztf_new(paths[0], merged.pop("set", None), progress, pp)
    elif kind == "braai":
        labels = merged.pop("labels", None)
        loaded = load_braai(paths[0], Path(labels) if labels else None, progress, pp)
    elif kind == "alerts":
        if "labels" not in merged:
            raise DatasetError(f"{spec}: labelled alerts need a labels file: alerts:PATH?labels=FILE")
        loaded = load_labelled_alerts(paths, Path(merged.pop("labels")), progress, pp)
    else:
        loaded = load_proxy(
            paths,
            float(merged.pop("real", DEFAULT_REAL_MIN)),
            float(merged.pop("bogus", DEFAULT_BOGUS_MAX)),
            progress,
            pp,
        )
    if merged:
        raise DatasetError(f"{spec}: unknown option(s) {sorted(merged)} for a {kind} dataset")
    return _with_splits(loaded, card, split_options, paths[0])


def _with_splits(
    loaded: LoadedDataset, card: dict[str, Any] | None, split_options: dict[str, Any], where: Path
) -> LoadedDataset:
    recorded = None
    if card and card.get("splits") and not split_options:
        recorded = {k: v for k, v in card["splits"].items() if k in ("test", "pool")}
    dataset = attach_splits(
        loaded.dataset,
        recorded,
        float(split_options.get("test_fraction", 0.2)),
        int(split_options.get("split_seed", 0)),
        f"{where}/dataset_card.json",
    )
    return LoadedDataset(
        dataset, loaded.source_format, loaded.nonfinite, loaded.raw_shapes, loaded.skipped, card
    )


def load_dataset(path: str | Path, **options: Any) -> TripletDataset:
    """The dataset named by `path` (a spec, see the module docstring) with its fixed splits."""
    return load_dataset_report(path, **options).dataset
