"""`rbc-train simulate`: build a labelled simulated dataset from real alert stamps.

Writes ZTF-NEW tables (`new_real_<set>.fits`, `new_bogus_<set>.fits`, float32 stamps
H x W x 3 = science, reference, difference, before preprocessing) plus `dataset_card.json`
and `dataset_card.md` with the recipe, counts, source alerts and fixed splits.

`--format avro` writes the simulated alerts instead as ZTF 4.02 Avro packets
(`packets/<alert_id>.avro`, real and bogus shuffled, a real packet as the template) for
`rbc replay`, with the truth beside them in `truth.csv`; proxy-labelled alerts are left
out, since their label is ZTF's score, not truth.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rbc1000.model.preprocessing import PREPROCESSING_VERSION, STAMP_SIZE
from rbc1000.train.data import simulate
from rbc1000.train.data.dataset_card import write_card
from rbc1000.train.data.loaders.alert_stamps import SkipCounter, drb_score, iter_alert_stamps
from rbc1000.train.data.loaders.ztf_new import table_dtype, write_table
from rbc1000.train.data.simulate import (
    Background,
    Sample,
    SimulationConfig,
    SourceAlert,
    iter_simulated,
    prepare,
)
from rbc1000.train.data.simulate_families import Difficulty
from rbc1000.train.data.simulate_masks import MASK_AUC_LIMIT, MaskConfig, feature_auc, mask_features
from rbc1000.train.data.splits import split_ids, stratified_split

RECIPE_TEXT = (simulate.__doc__ or "").split("\n\n", 1)[-1].strip()
CAVEATS = [
    "Backgrounds are reused: every simulated sample sits on one of the n_backgrounds real "
    "skies (transforms, shifts and painted content differ), so test and pool share skies, "
    "not samples.",
    "Artefacts are idealised models of the families named; real surveys have more kinds and "
    "more variety within each (the ghost, halo, spike and crosstalk models are simple shapes).",
    "Masks are drawn for both classes from one distribution; `mask_check` gives the ROC-AUC a "
    "classifier reaches from mask features alone (about 0.5 means masks carry no label).",
    "Injected sources carry no photon noise of their own; at S/N >= 6 the sky noise dominates.",
    "ZTF's fwhm is in pixels (1.01 arcsec each); values outside 1.5-6 px are clipped.",
    "Samples of families alert_drb_* are labelled by ZTF's drb model (proxy), not by people.",
]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Build a labelled real/bogus dataset from the real science and reference stamps of an "
        "alert corpus: injected point sources (real), artefact families (bogus) and real alerts "
        "labelled by ZTF's drb (proxy labels, marked as such). Same seed, same bytes."
    )
    parser.add_argument(
        "--alerts",
        nargs="+",
        required=True,
        type=Path,
        metavar="PATH",
        help="alert files, directories or tarballs (e.g. ../shared/data)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--n-real", type=int, default=13000, help="real samples (default 13000)")
    parser.add_argument("--n-bogus", type=int, default=30000, help="bogus samples (default 30000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--set-name", default="sim", help="table set name (default sim)")
    _add_difficulty_flags(parser)
    parser.add_argument(
        "--mask-rate",
        type=float,
        default=MaskConfig().rate,
        help=f"share of samples, real and bogus alike, with masked pixels (default {MaskConfig().rate})",
    )
    parser.add_argument(
        "--max-proxy-real",
        type=int,
        default=None,
        help="cap on drb>=0.99 real alerts used as proxy-labelled samples",
    )
    parser.add_argument(
        "--max-proxy-bogus",
        type=int,
        default=None,
        help="cap on drb<=0.1 real alerts used as proxy-labelled samples",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="fraction of each class and family in the fixed test split",
    )
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the fixed splits")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--format",
        choices=("fits", "avro"),
        default="fits",
        help="fits: ZTF-NEW tables and a dataset card (default); avro: ZTF 4.02 alert packets "
        "and truth.csv, for replaying through the service",
    )
    parser.add_argument(
        "--template",
        type=Path,
        default=None,
        help="avro: the real ZTF packet every packet copies its fields from (default: the first "
        ".avro file among the source alerts)",
    )


def _add_difficulty_flags(parser: argparse.ArgumentParser) -> None:
    """The `Difficulty` knobs a user may turn from the command line."""
    d = Difficulty()
    parser.add_argument(
        "--snr-min", type=float, default=d.snr_min, help=f"faintest injected real, S/N (default {d.snr_min})"
    )
    parser.add_argument(
        "--snr-max", type=float, default=d.snr_max, help=f"brightest injected real, S/N (default {d.snr_max})"
    )
    parser.add_argument(
        "--artefact-min",
        type=float,
        default=d.artefact_min,
        help=f"faintest artefact peak in sigma (default {d.artefact_min})",
    )
    parser.add_argument(
        "--artefact-max",
        type=float,
        default=d.artefact_max,
        help=f"brightest artefact peak in sigma (default {d.artefact_max})",
    )
    parser.add_argument(
        "--negative-difference",
        choices=["flipped", "signed"],
        default=d.negative_difference,
        help="difference stamp of negative candidates (fading reals, artefacts in the reference): "
        "flipped, positive at the centre, as ZTF publishes it (default); signed, negative, as a "
        "raw subtraction and Rubin's cutouts show it (simulator v2's stamps)",
    )


def read_source_alerts(paths: list[Path], progress: bool) -> tuple[list[SourceAlert], SkipCounter]:
    """ZTF alerts with readable stamps, as the simulator's input records."""
    skipped = SkipCounter.empty()
    stream = iter_alert_stamps(paths, skipped, survey="ztf")
    if progress:
        from tqdm import tqdm

        stream = tqdm(stream, desc="reading alerts", unit="alert")
    alerts = [
        SourceAlert(
            s.alert.alert_id,
            s.path,
            s.science,
            s.reference,
            s.difference,
            s.alert.fwhm,
            drb_score(s.alert),
            s.alert.rb,
        )
        for s in stream
    ]
    return alerts, skipped


def _fill(proxy: list[Sample], generated: Iterator[Sample], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The table rows and the mask features of each sample."""
    rows = np.zeros(n, dtype=table_dtype(STAMP_SIZE, STAMP_SIZE))
    features = np.zeros((n, 7))
    for i, sample in enumerate(_chain(proxy, generated)):
        rows[i] = (sample.stamp, sample.sample_id.encode(), sample.family.encode(), sample.proxy)
        features[i] = mask_features(sample.stamp[None])[0]
    return rows, features


def _chain(first: list[Sample], rest: Iterator[Sample]) -> Iterator[Sample]:
    yield from first
    yield from rest


def build(args: argparse.Namespace, config: SimulationConfig) -> dict[str, Any]:
    """Read, simulate, write the tables and the card; returns the card."""
    start = time.perf_counter()
    alerts, skipped = read_source_alerts(list(args.alerts), not args.quiet)
    proxy_real, proxy_bogus, backgrounds = prepare(alerts, config)
    args.out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, list[Any]] = {"ids": [], "y": [], "family": [], "features": []}
    files = {}
    for label, proxy, n in ((1, proxy_real, config.n_real), (0, proxy_bogus, config.n_bogus)):
        generated = iter_simulated(backgrounds, n - len(proxy), label, config, not args.quiet)
        rows, features = _fill(proxy, generated, n)
        meta["features"].append(features)
        name = f"new_{'real' if label else 'bogus'}_{args.set_name}.fits"
        write_table(args.out / name, rows)
        files["real" if label else "bogus"] = name
        meta["ids"] += [s.decode() for s in rows["sample_id"]]
        meta["family"] += [s.decode() for s in rows["family"]]
        meta["y"] += [label] * n
        del rows
    splits = stratified_split(
        meta["ids"], np.array(meta["y"]), meta["family"], args.test_fraction, args.split_seed
    )
    seconds = time.perf_counter() - start
    card = make_card(args, config, alerts, skipped, backgrounds, meta, files)
    card["splits"] = {
        "seed": args.split_seed,
        "test_fraction": args.test_fraction,
        "stratified_by": ["label", "family"],
        **split_ids(np.array(meta["ids"]), splits),
    }
    card["mask_check"] = mask_check(np.concatenate(meta["features"]), np.array(meta["y"]), config.seed)
    card["build"] = {
        "seconds": round(seconds, 1),
        "bytes": sum((args.out / f).stat().st_size for f in files.values()),
    }
    write_card(args.out, card)
    return card


def mask_check(features: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
    """What mask features alone tell about the label (the card's shortcut check)."""
    has_mask = np.asarray(features[:, 3:6].any(axis=1), dtype=bool)
    return {
        "features": "masked fraction and any-masked flag per stamp, nearest masked pixel to the centre",
        "classifier": "gradient-boosted trees (depth 3, 50 iterations), 5-fold cross-validated",
        "roc_auc": round(feature_auc(features, labels, seed), 4),
        "limit": MASK_AUC_LIMIT,
        "masked_share": {
            "real": round(float(has_mask[labels == 1].mean()), 4) if (labels == 1).any() else None,
            "bogus": round(float(has_mask[labels == 0].mean()), 4) if (labels == 0).any() else None,
        },
    }


def make_card(
    args: argparse.Namespace,
    config: SimulationConfig,
    alerts: list[SourceAlert],
    skipped: SkipCounter,
    backgrounds: list[Background],
    meta: dict[str, list[Any]],
    files: dict[str, str],
) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {"real": {}, "bogus": {}}
    for label, family in zip(meta["y"], meta["family"], strict=True):
        cls = counts["real" if label else "bogus"]
        cls[family] = cls.get(family, 0) + 1
    proxy_ids = [i for i, f in zip(meta["ids"], meta["family"], strict=True) if f.startswith("alert_drb")]
    return {
        "name": args.out.name,
        "format": "rbc1000-ztf-new",
        "set": args.set_name,
        "summary": "Simulated real/bogus triplets painted on real ZTF stamps, plus real alerts "
        "labelled by ZTF's drb (proxy). A stand-in for ZTF-NEW, not survey truth.",
        "files": files,
        "stamp_layout": "star_stamp float32 [63, 63, 3] = science, reference, "
        "difference (raw units; NaN = masked or off-chip)",
        "preprocessing_version": PREPROCESSING_VERSION,
        "created_by": "rbc-train simulate",
        "label_note": "Families alert_drb_real / alert_drb_bogus are PROXY labels from ZTF's "
        f"braai score (drb >= {config.proxy_real_drb} real, <= "
        f"{config.proxy_bogus_drb} bogus; proxy=True). Every other label is "
        "known by construction.",
        "seed": config.seed,
        "recipe_text": RECIPE_TEXT,
        "caveats": CAVEATS,
        "recipe": {**dataclasses.asdict(config), "fwhm_unit": "pixels (ZTF fwhm, 1.01 arcsec/px)"},
        "counts": counts,
        "source_alerts": {
            "paths": [str(p) for p in args.alerts],
            "n_alerts": len(alerts),
            "n_backgrounds": len(backgrounds),
            "n_host_backgrounds": sum(b.host for b in backgrounds),
            "skipped": skipped.summary(),
            "proxy_sample_ids": proxy_ids,
            "background_alert_ids": [b.alert_id for b in backgrounds],
        },
        "measured_difficulty": None,
    }


TRUTH_FILE = "truth.csv"
TRUTH_FIELDS = ("alert_id", "label", "survey", "object_id", "sample_id", "family")
# Simulated alert ids: decimal, far above ZTF's candids so far, distinct per seed.
FIRST_ALERT_ID = 3_900_000_000_000_000_000


def first_alert_id(seed: int) -> int:
    """The id of the first packet of seed `seed`; ten million ids per seed."""
    return FIRST_ALERT_ID + seed * 10_000_000


def _template(args: argparse.Namespace, alerts: list[SourceAlert]) -> Path:
    """--template, else the first source packet of ZTF schema 4.x, else the first packet file."""
    from rbc1000.alerts.alert import Alert
    from rbc1000.alerts.decoding import Decoder

    if args.template is not None:
        return Path(args.template)
    files = [Path(a.path) for a in alerts if a.path.endswith(".avro") and Path(a.path).is_file()]
    for path in files:
        decoded = Decoder().decode(path.read_bytes())
        if decoded and isinstance(decoded[0], Alert) and decoded[0].schema_version.startswith("4."):
            return path
    if files:
        return files[0]
    raise ValueError("no .avro source alert to use as the packet template; pass --template")


def build_packets(args: argparse.Namespace, config: SimulationConfig) -> dict[str, Any]:
    """Simulate, then write one packet per sample (classes shuffled) and `truth.csv`."""
    from rbc1000.train.data.ztf_packets import PacketWriter

    alerts, _ = read_source_alerts(list(args.alerts), not args.quiet)
    _, _, backgrounds = prepare(alerts, dataclasses.replace(config, max_proxy_real=0, max_proxy_bogus=0))
    writer = PacketWriter(_template(args, alerts))
    samples = [
        *iter_simulated(backgrounds, config.n_real, 1, config, not args.quiet),
        *iter_simulated(backgrounds, config.n_bogus, 0, config, not args.quiet),
    ]
    order = np.random.default_rng([config.seed, 3]).permutation(len(samples))
    packets = args.out / "packets"
    packets.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, index in enumerate(order):
        sample, alert_id = samples[index], first_alert_id(config.seed) + n
        object_id = f"ZTF99s{config.seed % 100:02d}{n:06d}"
        stamps = (sample.stamp[..., 0], sample.stamp[..., 1], sample.stamp[..., 2])
        (packets / f"{alert_id}.avro").write_bytes(writer.packet(alert_id, object_id, stamps))
        label = "real" if sample.label else "bogus"
        values = (alert_id, label, "ztf", object_id, sample.sample_id, sample.family)
        rows.append(dict(zip(TRUTH_FIELDS, values, strict=True)))
    with (args.out / TRUTH_FILE).open("w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=TRUTH_FIELDS)
        out.writeheader()
        out.writerows(rows)
    return {"packets": len(rows), "real": config.n_real, "bogus": config.n_bogus, "out": str(args.out)}


def run(args: argparse.Namespace) -> int:
    difficulty = Difficulty(
        snr_min=args.snr_min,
        snr_max=args.snr_max,
        artefact_min=args.artefact_min,
        artefact_max=args.artefact_max,
        negative_difference=args.negative_difference,
    )
    config = SimulationConfig(
        n_real=args.n_real,
        n_bogus=args.n_bogus,
        seed=args.seed,
        max_proxy_real=args.max_proxy_real,
        max_proxy_bogus=args.max_proxy_bogus,
        difficulty=difficulty,
        masks=MaskConfig(rate=args.mask_rate),
    )
    try:
        if args.format == "avro":
            print(json.dumps(build_packets(args, config)))
            return 0
        card = build(args, config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"rbc-train simulate: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out}: real {sum(card['counts']['real'].values())}, bogus "
        f"{sum(card['counts']['bogus'].values())}, {card['build']['bytes'] / 1e9:.2f} GB in "
        f"{card['build']['seconds']:.0f} s"
    )
    return 0
