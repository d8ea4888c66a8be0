"""Benchmark: scoring throughput on GPU and CPU, FP32 and FP16, with and without I/O binding.

Prints ONE JSON object:
- `cpu` and `gpu`: for each precision (fp32, fp16) and path (plain `InferenceSession.run`,
  `io_binding`), triplets/s and ms per 1,024 triplets at each batch size; then end-to-end
  alerts/s when N decode threads (the project's Decoder and preprocessing, one Decoder per
  thread) feed one scoring thread, with the share of the wall time the scorer was busy (low:
  decoding is the bottleneck). The CPU provider runs in the same process as the baseline.
- `host_to_device`: ms per 1,024 float32 triplets (49 MB) from pageable and from pinned memory;
  null without CUDA.
- `gpu`: null when this ONNX Runtime offers no CUDA provider (then only the CPU part runs).
- `fp16_parity`: the FP16 variant against FP32 on the real alerts used as input.

The triplets scored are real alerts (ZTF, fink's ztf_v4.02 sample or tests/data/alerts),
decoded and preprocessed once, then tiled to the batch size. Each figure is the best of the
timed repeats after one warm-up call (the least disturbed run on a shared machine).

    python bench/gpu.py --quick          # CPU only, a few seconds
    python bench/gpu.py                  # on a GPU machine: batch sizes 256 to 8192
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from rbc1000.alerts.alert import Alert, DecodeError
from rbc1000.alerts.decoding import Decoder
from rbc1000.assets import default_model_path
from rbc1000.model.binding import host_buffer
from rbc1000.model.preprocessing import TRIPLET_SHAPE, triplet_from_cutouts
from rbc1000.model.providers import CUDA, Provider
from rbc1000.model.scoring import Scorer
from rbc1000.train.nn.fp16 import FP16_TOLERANCE, alert_triplets, p_real, to_fp16

ROOT = Path(__file__).resolve().parent.parent
DATA_DIRS = (ROOT.parent / "shared/data/fink-broker/ztf_v4.02", ROOT / "tests/data/alerts")
GPU_BATCHES = (256, 512, 1024, 2048, 4096, 8192)
CPU_BATCHES = (256, 1024)
Table = dict[str, dict[str, dict[str, dict[str, float]]]]


def best_rate(call: Callable[[], object], items: int, min_seconds: float, repeats: int) -> float:
    """Items per second of the fastest of at least `repeats` timed calls after one warm-up."""
    call()
    best, spent, done = 0.0, 0.0, 0
    while done < repeats or spent < min_seconds:
        t0 = time.perf_counter()
        call()
        elapsed = time.perf_counter() - t0
        best, spent, done = max(best, items / elapsed), spent + elapsed, done + 1
    return best


def figures(rate: float) -> dict[str, float]:
    """triplets/s and the milliseconds one batch of 1,024 triplets takes at that rate."""
    return {"triplets_per_s": round(rate, 1), "ms_per_1024": round(1024 / rate * 1e3, 3)}


def scoring_table(
    provider: Provider, variants: dict[str, Path], x: np.ndarray, batches: tuple[int, ...], args: Any
) -> Table:
    """{precision: {"plain" | "io_binding": {batch: figures}}} for one provider."""
    table: Table = {}
    for precision, path in variants.items():
        for binding in (False, True):
            scorer = Scorer.load(path, provider, args.threads, io_binding=binding)
            row = table.setdefault(precision, {}).setdefault("io_binding" if binding else "plain", {})
            for batch in batches:
                call = _scoring_call(scorer, x[:batch])
                row[str(batch)] = figures(best_rate(call, batch, args.min_seconds, args.repeats))
    return table


def _scoring_call(scorer: Scorer, batch: np.ndarray) -> Callable[[], object]:
    return lambda: scorer.score(batch)


def host_to_device(x: np.ndarray, repeats: int) -> dict[str, Any]:
    """ms per 1,024 triplets copied to CUDA memory from pageable and from pinned host memory."""
    batch = np.ascontiguousarray(np.resize(x, (1024, *TRIPLET_SHAPE)))
    pageable_ms = 1e3 / best_rate(lambda: ort.OrtValue.ortvalue_from_numpy(batch, "cuda", 0), 1, 0.0, repeats)
    out: dict[str, Any] = {
        "bytes": batch.nbytes,
        "pageable_ms": round(pageable_ms, 3),
        "pageable_gb_per_s": round(batch.nbytes / 1e6 / pageable_ms, 2),
        "pinned_ms": None,
    }
    host, pinned = host_buffer(1024, "cuda", 0)  # contents do not matter: only the transfer is timed
    if pinned:
        device = ort.OrtValue.ortvalue_from_shape_and_type([1024, *TRIPLET_SHAPE], np.float32, "cuda", 0)
        pinned_ms = 1e3 / best_rate(lambda: device.update_inplace(host), 1, 0.0, repeats)
        out.update(pinned_ms=round(pinned_ms, 3), pinned_gb_per_s=round(batch.nbytes / 1e6 / pinned_ms, 2))
    return out


def guarded(part: Callable[[], Any]) -> Any:
    """A GPU measurement, or {"error": ...} so that one failure does not lose the whole run."""
    try:
        return part()
    except Exception as exc:  # report whatever ONNX Runtime raised, and go on to the CPU baseline
        return {"error": f"{type(exc).__name__}: {exc}"}


def _decode_into(packets: list[bytes], out: queue.Queue[np.ndarray | None]) -> None:
    """One decode thread: its own Decoder, every packet to triplets, then the end marker."""
    decoder = Decoder()
    for data in packets:
        for result in decoder.decode(data):
            if isinstance(result, Alert):
                with contextlib.suppress(DecodeError):  # the service dead-letters these; not timed here
                    out.put(triplet_from_cutouts(result.cutouts))
    out.put(None)


def end_to_end(scorer: Scorer, packets: list[bytes], threads: int, batch: int) -> dict[str, float]:
    """Alerts/s when `threads` decode threads feed one scorer; scorer busy share of the wall."""
    feed: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=4 * batch)
    workers = [
        threading.Thread(target=_decode_into, args=(packets[i::threads], feed), daemon=True)
        for i in range(threads)
    ]
    buffer = np.empty((batch, *TRIPLET_SHAPE), np.float32)
    t0, busy, scored, filled, running = time.perf_counter(), 0.0, 0, 0, threads
    for worker in workers:
        worker.start()
    while running:
        item = feed.get()
        if item is None:
            running -= 1
        else:
            buffer[filled], filled = item, filled + 1
        if filled == batch or (not running and filled):
            s0 = time.perf_counter()
            scorer.score(buffer[:filled])
            busy, scored, filled = busy + time.perf_counter() - s0, scored + filled, 0
    wall = time.perf_counter() - t0
    return {"alerts_per_s": round(scored / wall, 1), "alerts": scored, "scorer_busy": round(busy / wall, 3)}


def end_to_end_table(
    scorer: Scorer, packets: list[bytes], threads: tuple[int, ...], batch: int
) -> dict[str, Any]:
    runs = {str(n): end_to_end(scorer, packets, n, batch) for n in threads}
    return {"batch": batch, "io_binding": scorer.io_binding, "model": scorer.path.name, "threads": runs}


def load_packets(data: Path, alerts: int) -> list[bytes]:
    """The alert files under `data`, repeated to about `alerts` packets."""
    files = sorted(data.rglob("*.avro"))
    if not files:
        raise SystemExit(f"no .avro files under {data}")
    packets = [f.read_bytes() for f in files]
    return (packets * (alerts // len(packets) + 1))[:alerts]


def fp16_variant(model: Path, tmp: Path, x: np.ndarray) -> tuple[Path, dict[str, float]]:
    """Write the FP16 variant of `model` under `tmp`; its parity with FP32 on `x`."""
    fp32 = onnx.load(str(model))
    fp16 = to_fp16(fp32)
    path = tmp / f"{model.stem}.fp16.onnx"
    onnx.save(fp16, str(path))
    diff = float(np.max(np.abs(p_real(fp16, x) - p_real(fp32, x))))
    return path, {"samples": len(x), "max_abs_diff": diff, "tolerance": FP16_TOLERANCE}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="CPU figures at batch 256 only, seconds in all")
    parser.add_argument("--model", type=Path, default=default_model_path(), help="FP32 ONNX model")
    parser.add_argument("--data", type=Path, default=None, help="alert files (default: fink ztf_v4.02)")
    parser.add_argument("--gpu-batches", type=int, nargs="+", default=list(GPU_BATCHES))
    parser.add_argument("--cpu-batches", type=int, nargs="+", default=None, help="default 256 1024")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime CPU threads (shared machine)")
    parser.add_argument("--decode-threads", type=int, nargs="+", default=None, help="default 1 2 4 8")
    parser.add_argument("--alerts", type=int, default=None, help="alerts per end-to-end run")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per figure, at least")
    parser.add_argument("--min-seconds", type=float, default=None, help="timed seconds per figure, at least")
    args = parser.parse_args(argv)
    quick = args.quick
    args.cpu_batches = tuple(args.cpu_batches or ((256,) if quick else CPU_BATCHES))
    args.decode_threads = tuple(args.decode_threads or ((1, 2) if quick else (1, 2, 4, 8)))
    args.alerts = args.alerts or (300 if quick else 20_000)
    args.repeats = args.repeats or (1 if quick else 5)
    args.min_seconds = args.min_seconds if args.min_seconds is not None else (0.0 if quick else 2.0)
    args.data = args.data or next((d for d in DATA_DIRS if d.is_dir()), DATA_DIRS[-1])
    return args


def provider_part(
    provider: Provider, variants: dict[str, Path], x: np.ndarray, packets: list[bytes], args: Any
) -> dict[str, Any]:
    """Scoring table and end-to-end runs of one provider."""
    gpu = provider == "cuda"
    batches = tuple(args.gpu_batches if gpu else args.cpu_batches)
    big = np.ascontiguousarray(np.resize(x, (max(batches), *TRIPLET_SHAPE)))
    part: dict[str, Any] = {"batches": list(batches), **scoring_table(provider, variants, big, batches, args)}
    fed = Scorer.load(variants["fp16" if gpu else "fp32"], provider, args.threads, io_binding=gpu)
    part["end_to_end"] = end_to_end_table(fed, packets, args.decode_threads, 1024 if gpu else 256)
    part["provider"] = fed.provider
    return part


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    x = alert_triplets([args.data], limit=512)
    packets = load_packets(args.data, args.alerts)
    report: dict[str, Any] = {
        "model": args.model.name,
        "onnxruntime": ort.__version__,
        "available_providers": ort.get_available_providers(),
        "data": str(args.data),
        "cpu_count": os.cpu_count(),
        "ort_cpu_threads": args.threads,
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory() as tmp:
        fp16_path, report["fp16_parity"] = fp16_variant(args.model, Path(tmp), x)
        variants = {"fp32": args.model, "fp16": fp16_path}
        has_gpu = CUDA in ort.get_available_providers()
        report["host_to_device"] = report["gpu"] = None
        if has_gpu:
            report["host_to_device"] = guarded(lambda: host_to_device(x, args.repeats))
            report["gpu"] = guarded(lambda: provider_part("cuda", variants, x, packets, args))
        report["cpu"] = provider_part("cpu", variants, x, packets, args)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
