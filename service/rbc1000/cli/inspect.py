"""`rbc inspect PATH...`: decode alert files and show what is inside each record.

Exit status: 0 when every record decoded, 1 when some failed (each is still printed, as
one line with its reason, never a traceback: a hostile or broken file is one failed record
like any other), 2 on a usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rbc1000.alerts.alert import Alert, DecodeError
from rbc1000.alerts.decoding import Decoder, unforeseen
from rbc1000.alerts.fits import read_stamp
from rbc1000.alerts.sources import Packet, iter_alerts

JSON_KEYS = (
    "path",
    "index",
    "survey",
    "schema_version",
    "alert_id",
    "object_id",
    "ra",
    "dec",
    "mjd",
    "band",
    "survey_score",
    "cutout_shapes",
    "nan_fraction",
    "error",
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="alert files (Avro containers or Confluent-framed messages), "
        "directories (searched recursively for *.avro and .tar.gz) or tarballs",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per alert record instead of a table"
    )
    parser.add_argument(
        "--schema-dir",
        default=None,
        help="local schema directory for Confluent-framed files (default: schemas/)",
    )
    parser.add_argument(
        "--registry-url", default=None, help="Confluent schema registry for schema ids not found locally"
    )


def describe(packet: Packet, index: int, result: Alert | None, error: DecodeError | None) -> dict[str, Any]:
    """The inspect row of one record: identity, position, score, cutout shapes, NaN fraction."""
    row: dict[str, Any] = dict.fromkeys(JSON_KEYS)
    row.update(path=packet.path, index=index)
    if result is not None:
        row.update(
            survey=result.survey,
            schema_version=result.schema_version,
            alert_id=str(result.alert_id),
            object_id=result.object_id,
            ra=result.ra,
            dec=result.dec,
            mjd=result.mjd,
            band=result.band,
            survey_score=result.survey_score,
        )
        try:
            row.update(_stamp_summary(result))
        except DecodeError as exc:
            error = exc
        except Exception as exc:  # a stamp must not turn the listing into a traceback
            error = unforeseen(exc)
    row["error"] = None if error is None else str(error)
    return row


def _stamp_summary(alert: Alert) -> dict[str, Any]:
    stamps = (alert.cutouts.science, alert.cutouts.template, alert.cutouts.difference)
    if any(s is None for s in stamps):
        return {"cutout_shapes": None, "nan_fraction": None}
    images = [read_stamp(s) for s in stamps if s is not None]
    pixels = sum(im.size for im in images)
    nans = sum(int(np.count_nonzero(~np.isfinite(im))) for im in images)
    return {
        "cutout_shapes": [list(im.shape) for im in images],
        "nan_fraction": round(nans / pixels, 6) if pixels else None,
    }


def _table_line(row: dict[str, Any]) -> str:
    shapes = "none" if row["cutout_shapes"] is None else ",".join(f"{h}x{w}" for h, w in row["cutout_shapes"])
    if row["survey"] is None:
        return f"{row['path']}[{row['index']}]  ERROR {row['error']}"
    score = "-" if row["survey_score"] is None else f"{row['survey_score']:.3f}"
    text = (
        f"{row['path']}[{row['index']}]  {row['survey']} v{row['schema_version']}  "
        f"{row['alert_id']}  {row['object_id']}  ra={row['ra']:.5f} dec={row['dec']:.5f}  "
        f"mjd={row['mjd']:.5f}  band={row['band']}  score={score}  cutouts={shapes}"
    )
    return text + (f"  ERROR {row['error']}" if row["error"] else "")


def run(args: argparse.Namespace) -> int:
    decoder = Decoder(Path(args.schema_dir) if args.schema_dir else None, args.registry_url)
    failures = total = 0
    for packet, index, result in iter_alerts(args.paths, decoder):
        if isinstance(result, Alert):
            row = describe(packet, index, result, None)
        else:
            row = describe(packet, index, None, result.error)
        total += 1
        failures += row["error"] is not None
        print(json.dumps(row) if args.json else _table_line(row))
    if not args.json:
        print(f"{total} records, {total - failures} decoded, {failures} failed", file=sys.stderr)
    return 1 if failures else 0
