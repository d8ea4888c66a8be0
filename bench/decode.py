"""Benchmark: alerts/s for decode + triplet on one pinned core, every path in one process.

- `alerts_per_s`: the default path (`make_batch_decoder()`: native when built), in batches;
- `python_alerts_per_s`: this project's Python path (`Decoder` + `triplet_from_cutouts`);
- `peer_python_alerts_per_s`: the Python brokers' way, `fastavro.reader` on every packet
  (parses the writer schema each time, reads the whole record) and `astropy.io.fits` per stamp;
- `floor_alerts_per_s`: copying each packet and inflating its three stamps with the fastest
  inflater installed (ISA-L), the work no decoder can avoid;
- `ratio_to_floor` (floor rate / default rate) and `speedup` (default rate / peer rate);
- `lsst_alerts_per_s`: the default path on Confluent-framed Rubin packets.
Paths alternate in rounds so that machine noise hits all; we report medians over rounds, of
wall time and of this process's CPU time (`*_per_cpu_s`, `cpu_ratio_to_floor`: steadier on a
machine shared with other jobs). Triplets are of `--preprocessing` (rbc-pp-1 by default).

    python bench/decode.py [--data DIR] [--lsst DIR] [--rounds 5] [--limit N] [--preprocessing V]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import fastavro
import numpy as np
from astropy.io import fits
from isal import isal_zlib

from rbc1000.alerts.alert import Alert, DecodeError
from rbc1000.alerts.decoding import Decoder
from rbc1000.alerts.native import BatchDecoder, make_batch_decoder
from rbc1000.alerts.registry import DEFAULT_SCHEMA_DIR, load_schema_dir
from rbc1000.model.preprocessing import PP_V1, make_triplet, triplet_from_cutouts

SHARED = Path(__file__).resolve().parent.parent.parent / "shared/data"
DEFAULT_DATA = SHARED / "fink-broker/ztf_v4.02"
DEFAULT_LSST = SHARED / "lsst-real"
LSST_SCHEMA_ID = 900  # lsst.v9_0, which the lsst-real packets are written with
BATCH = 256


def default_path(decoder: BatchDecoder, packets: list[bytes], version: str = PP_V1) -> int:
    return sum(
        len(decoder.decode_batch(packets[i : i + BATCH], version).triplets)
        for i in range(0, len(packets), BATCH)
    )


def stamps_of(packets: list[bytes]) -> list[list[bytes]]:
    """The three stamps of each alert, for the floor (read once, outside the timing)."""
    out = []
    for data in packets:
        for result in Decoder().decode(data):
            if isinstance(result, Alert) and result.cutouts.complete:
                c = result.cutouts
                out.append([s for s in (c.science, c.template, c.difference) if s is not None])
    return out


def floor_path(packets: list[bytes], stamps: list[list[bytes]]) -> int:
    for data in packets:
        bytearray(data)  # the one copy every consumer makes out of the Kafka buffer
    for triple in stamps:
        for stamp in triple:
            if stamp[:2] == b"\x1f\x8b":
                isal_zlib.decompress(stamp, 31)
    return len(stamps)


def lsst_packets(directory: Path) -> list[bytes]:
    """Rubin packets as Rubin frames them: magic 0, schema id, schemaless body."""
    schema = fastavro.parse_schema(load_schema_dir(DEFAULT_SCHEMA_DIR / "lsst/9/0"), named_schemas={})
    out = []
    for path in sorted(directory.rglob("*.avro")):
        with path.open("rb") as handle:
            for record in fastavro.reader(handle):
                body = io.BytesIO()
                fastavro.schemaless_writer(body, schema, record)
                out.append(b"\x00" + LSST_SCHEMA_ID.to_bytes(4, "big") + body.getvalue())
    return out


def fast_path(packets: list[bytes], version: str = PP_V1) -> int:
    decoder = Decoder()
    done = 0
    for data in packets:
        for result in decoder.decode(data):
            if isinstance(result, Alert):
                try:
                    triplet_from_cutouts(result.cutouts, version)
                    done += 1
                except DecodeError:
                    pass
    return done


def _astropy_stamp(stamp: bytes | None) -> np.ndarray:
    assert stamp is not None
    handle = gzip.GzipFile(fileobj=io.BytesIO(stamp)) if stamp[:2] == b"\x1f\x8b" else io.BytesIO(stamp)
    with fits.open(handle) as hdus:
        return np.asarray(hdus[0].data, dtype=np.float32)


def naive_path(packets: list[bytes]) -> int:
    done = 0
    for data in packets:
        for record in fastavro.reader(io.BytesIO(data)):
            assert isinstance(record, dict)
            stamps = [record.get(k) for k in ("cutoutScience", "cutoutTemplate", "cutoutDifference")]
            raw = [s["stampData"] if isinstance(s, dict) else s for s in stamps]
            if any(r is None for r in raw):
                continue
            make_triplet(*(_astropy_stamp(r) for r in raw))
            done += 1
    return done


def rate(fn, packets: list[bytes]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(alerts per wall second, alerts per CPU second of this process).

    CPU time does not count while other processes hold the core, so on a shared machine the
    second figure is the steadier estimate of what one dedicated core does.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn(packets)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of ZTF alert files")
    parser.add_argument("--lsst", type=Path, default=DEFAULT_LSST, help="directory of Rubin alert files")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per path")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N files (0: all)")
    parser.add_argument("--preprocessing", default=PP_V1, help="preprocessing version of the triplets")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the issue asks
    files = sorted(args.data.rglob("*.avro"))[: args.limit or None]
    packets = [f.read_bytes() for f in files]
    lsst = lsst_packets(args.lsst) if args.lsst.is_dir() else []
    stamps = stamps_of(packets)
    decoder = make_batch_decoder("auto")
    version = args.preprocessing
    paths: dict[str, Callable[[list[bytes]], int]] = {
        "default": lambda p: default_path(decoder, p, version),
        "python": lambda p: fast_path(p, version),
        "peer": naive_path,
        "floor": lambda p: floor_path(p, stamps),
    }
    for fn in paths.values():
        fn(packets)  # warm imports, caches and schema plans
    if lsst:
        default_path(decoder, lsst, version)
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in [*paths, "lsst"]}
    for _ in range(args.rounds):
        for name, fn in paths.items():
            rounds[name].append(rate(fn, packets))
        if lsst:
            rounds["lsst"].append(rate(lambda p: default_path(decoder, p, version), lsst))
    print(json.dumps(report(args, decoder.path, len(packets), len(lsst), rounds)))


def report(
    args: argparse.Namespace, path: str, n: int, n_lsst: int, rounds: dict[str, list[tuple[float, float]]]
) -> dict[str, object]:
    wall = {k: statistics.median(r[0] for r in v) if v else 0.0 for k, v in rounds.items()}
    cpu = {k: statistics.median(r[1] for r in v) if v else 0.0 for k, v in rounds.items()}
    return {
        "data": str(args.data),
        "packets": n,
        "lsst_packets": n_lsst,
        "rounds": args.rounds,
        "cores": 1,
        "default_path": path,
        "preprocessing": args.preprocessing,
        "alerts_per_s": round(wall["default"], 1),
        "python_alerts_per_s": round(wall["python"], 1),
        "peer_python_alerts_per_s": round(wall["peer"], 1),
        "floor_alerts_per_s": round(wall["floor"], 1),
        "ratio_to_floor": round(wall["floor"] / wall["default"], 2),
        "speedup": round(wall["default"] / wall["peer"], 2),
        "speedup_over_python": round(wall["default"] / wall["python"], 2),
        "lsst_alerts_per_s": round(wall["lsst"], 1),
        "alerts_per_cpu_s": round(cpu["default"], 1),
        "python_alerts_per_cpu_s": round(cpu["python"], 1),
        "peer_python_alerts_per_cpu_s": round(cpu["peer"], 1),
        "lsst_alerts_per_cpu_s": round(cpu["lsst"], 1),
        "floor_alerts_per_cpu_s": round(cpu["floor"], 1),
        "cpu_ratio_to_floor": round(cpu["floor"] / cpu["default"], 2),
        "cpu_speedup": round(cpu["default"] / cpu["peer"], 2),
        "alerts_per_s_rounds": [round(r[0], 1) for r in rounds["default"]],
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
