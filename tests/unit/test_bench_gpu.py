"""bench/gpu.py --quick runs on a machine without a GPU and says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_quick_gpu_bench_runs_on_cpu() -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime offers CUDA: the quick run would time the GPU too")
    data = ROOT / "tests" / "data" / "alerts"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu.py"), "--quick", "--data", str(data), "--alerts", "60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["gpu"] is None and report["host_to_device"] is None
    assert report["fp16_parity"]["max_abs_diff"] <= report["fp16_parity"]["tolerance"]
    cpu = report["cpu"]
    assert cpu["provider"] == "CPUExecutionProvider"
    for precision in ("fp32", "fp16"):
        for path in ("plain", "io_binding"):
            row = cpu[precision][path]["256"]
            assert row["triplets_per_s"] > 0 and row["ms_per_1024"] > 0
    for run in cpu["end_to_end"]["threads"].values():
        assert run["alerts"] > 0 and run["alerts_per_s"] > 0
