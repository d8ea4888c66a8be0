"""The FP16 variant of the shipped model: valid contract, parity with FP32 on real alerts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from rbc1000.assets import default_model_path
from rbc1000.model.contract import INPUT_NAME, OUTPUT_NAME
from rbc1000.model.scoring import Scorer
from rbc1000.train.nn.fp16 import (
    FP16_TOLERANCE,
    KEY_PRECISION,
    Fp16Error,
    alert_triplets,
    check_fp16_parity,
    export_fp16,
    fp16_path,
    p_real,
    to_fp16,
)
from tests.support.model_factory import tiny_model

ALERTS = Path(__file__).resolve().parents[2] / "data" / "alerts"


@pytest.fixture(scope="module")
def real_triplets() -> np.ndarray:
    x = alert_triplets([ALERTS])
    assert len(x) >= 20, "tests/data/alerts should give a few dozen scorable alerts"
    return x


def test_fp16_export_passes_parity_on_real_alerts(tmp_path: Path, real_triplets: np.ndarray) -> None:
    fp32_path = tmp_path / "rbc-compact-default.onnx"
    fp32_path.write_bytes(default_model_path().read_bytes())
    out, parity = export_fp16(fp32_path, real_triplets)
    assert out == tmp_path / "rbc-compact-default.fp16.onnx" == fp16_path(fp32_path)
    assert parity.samples == len(real_triplets)
    assert parity.max_abs_diff <= FP16_TOLERANCE and parity.decision_changes == 0
    scorer = Scorer.load(out, "cpu", 1)  # the service's contract check and smoke batch
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta[KEY_PRECISION] == "fp16"
    assert scorer.info == Scorer.load(fp32_path, "cpu", 1).info


def test_fp16_body_is_half_and_contract_stays_float32() -> None:
    half = to_fp16(onnx.load(str(default_model_path())))
    assert half.graph.input[0].name == INPUT_NAME
    assert half.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert half.graph.output[0].name == OUTPUT_NAME
    assert half.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    kinds = {t.data_type for t in half.graph.initializer}
    assert TensorProto.FLOAT16 in kinds
    halves = sum(t.data_type == TensorProto.FLOAT16 for t in half.graph.initializer)
    assert halves >= len(half.graph.initializer) // 2


def test_parity_failure_refuses_the_export(tmp_path: Path, real_triplets: np.ndarray) -> None:
    fp32 = onnx.load(str(default_model_path()))
    broken = to_fp16(fp32)
    weight = next(t for t in broken.graph.initializer if t.data_type == TensorProto.FLOAT16)
    values = onnx.numpy_helper.to_array(weight) * np.float16(1.5)
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    with pytest.raises(Fp16Error, match="differs"):
        check_fp16_parity(fp32, broken, real_triplets)


def test_export_writes_nothing_when_parity_fails(tmp_path: Path, real_triplets: np.ndarray) -> None:
    fp32_path = tmp_path / "m.onnx"
    fp32_path.write_bytes(default_model_path().read_bytes())
    with pytest.raises(Fp16Error, match="no triplets"):
        export_fp16(fp32_path, real_triplets[:0])
    assert not fp16_path(fp32_path).exists()


def test_model_without_body_is_refused() -> None:
    with pytest.raises(Fp16Error, match="convolutions"):
        to_fp16(tiny_model())


def test_p_real_of_fp16_tracks_fp32(real_triplets: np.ndarray) -> None:
    fp32 = onnx.load(str(default_model_path()))
    got, want = p_real(to_fp16(fp32), real_triplets), p_real(fp32, real_triplets)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.max(np.abs(got - want)) <= FP16_TOLERANCE
