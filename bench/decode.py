"""Benchmark: alerts/s for decode + triplet, against the naive path, in one process.

Naive path: `fastavro.reader` on every packet (parses the writer schema each time, reads the
whole record) and `astropy.io.fits` on every stamp, then the same preprocessing.
Both paths read packets already in memory, on one core, alternating in rounds so that
machine noise hits both; we report medians over rounds and their ratio.

    python bench/decode.py [--data DIR] [--rounds 5] [--limit N]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import statistics
import time
from pathlib import Path

import fastavro
import numpy as np
from astropy.io import fits

from rbc1000.alerts.alert import Alert, DecodeError
from rbc1000.alerts.decoding import Decoder
from rbc1000.model.preprocessing import make_triplet, triplet_from_cutouts

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/fink-broker/ztf_v4.02"


def fast_path(packets: list[bytes]) -> int:
    decoder = Decoder()
    done = 0
    for data in packets:
        for result in decoder.decode(data):
            if isinstance(result, Alert):
                try:
                    triplet_from_cutouts(result.cutouts)
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
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of alert files")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per path")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N files (0: all)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the issue asks
    files = sorted(args.data.rglob("*.avro"))[: args.limit or None]
    packets = [f.read_bytes() for f in files]
    fast_path(packets[:20])  # warm imports and caches in both paths
    naive_path(packets[:20])
    fast, naive = [], []
    for _ in range(args.rounds):
        fast.append(rate(fast_path, packets))
        naive.append(rate(naive_path, packets))
    alerts_per_s = statistics.median(r[0] for r in fast)
    baseline = statistics.median(r[0] for r in naive)
    cpu_rate = statistics.median(r[1] for r in fast)
    cpu_baseline = statistics.median(r[1] for r in naive)
    print(
        json.dumps(
            {
                "data": str(args.data),
                "packets": len(packets),
                "rounds": args.rounds,
                "cores": 1,
                "alerts_per_s": round(alerts_per_s, 1),
                "baseline_alerts_per_s": round(baseline, 1),
                "speedup": round(alerts_per_s / baseline, 2),
                "alerts_per_cpu_s": round(cpu_rate, 1),
                "baseline_alerts_per_cpu_s": round(cpu_baseline, 1),
                "cpu_speedup": round(cpu_rate / cpu_baseline, 2),
                "alerts_per_s_rounds": [round(r[0], 1) for r in fast],
                "baseline_alerts_per_s_rounds": [round(r[0], 1) for r in naive],
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
