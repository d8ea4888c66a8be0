"""Export a trained model to the service's ONNX contract, with metadata and a parity check.

The exported graph takes `triplets` float32 [N, 3, 63, 63] and returns `p_real` float32 [N]
(softmax over the two logits, real column). The decision threshold and the low-confidence band
the service routes to human labelling are chosen on validation data, never on the test split.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from sklearn.metrics import matthews_corrcoef
from torch import nn

from rbc1000.model.contract import INPUT_NAME, OUTPUT_NAME, ModelInfo
from rbc1000.model.preprocessing import TRIPLET_SHAPE

OPSET = 17
PARITY_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """The export failed a check (graph, contract or numerical parity)."""


class RealProbability(nn.Module):
    """Wraps a two-logit classifier so that it outputs p_real = softmax(logits)[:, 1]."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, triplets: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(triplets).float(), dim=1)[:, 1]


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold maximising validation MCC (ties: the one closest to 0.5); 0.5 if undefined."""
    if y.size == 0 or y.min() == y.max():
        return 0.5
    candidates = np.unique(np.concatenate([[0.5], np.round(p, 4)]))
    candidates = candidates[(candidates > 0.0) & (candidates < 1.0)]
    scores = [matthews_corrcoef(y, (p > t).astype(int)) for t in candidates]
    best = max(scores)
    near = [t for t, s in zip(candidates, scores, strict=True) if s >= best - 1e-12]
    return float(min(near, key=lambda t: abs(t - 0.5)))


def choose_band(y: np.ndarray, p: np.ndarray, threshold: float, purity: float = 0.95) -> tuple[float, float]:
    """(low, high) around `threshold` outside which validation decisions are `purity` correct.

    high is the lowest score from which at least `purity` of the samples above it are real;
    low the highest score below which at least `purity` are bogus. Scores inside the band go
    to human labelling in the service.
    """
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    high = 1.0
    real_share = np.cumsum(ys) / np.arange(1, ys.size + 1)
    ok = np.flatnonzero((real_share >= purity) & (ps >= threshold))
    if ok.size:
        high = float(ps[ok.max()])
    low = 0.0
    bogus_share = np.cumsum(1 - ys[::-1]) / np.arange(1, ys.size + 1)
    ok = np.flatnonzero((bogus_share >= purity) & (ps[::-1] < threshold))
    if ok.size:
        low = float(np.nextafter(ps[::-1][ok.max()], 1.0))
    return min(low, threshold), max(high, threshold)


def to_onnx_bytes(net: nn.Module) -> bytes:
    """The ONNX graph of `RealProbability(net)` with a dynamic batch axis (opset 17)."""
    wrapper = RealProbability(net).eval()
    dummy = torch.zeros((2, *TRIPLET_SHAPE), dtype=torch.float32)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose: for this plain CNN it gives a small
        # graph of standard operators; torch only warns that it is no longer the default.
        warnings.simplefilter("ignore", DeprecationWarning)
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=OPSET,
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
            dynamo=False,
        )
        return path.read_bytes()


def with_metadata(model_bytes: bytes, info: ModelInfo) -> onnx.ModelProto:
    """The model with `info` written into metadata_props, checked by onnx.checker."""
    model = onnx.load_from_string(model_bytes)
    del model.metadata_props[:]
    for key, value in info.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    return model


def check_parity(
    model: onnx.ModelProto, net: nn.Module, x: np.ndarray, tolerance: float = PARITY_TOLERANCE
) -> float:
    """Max |ONNX Runtime - PyTorch| of p_real on `x`; raises ExportError above `tolerance`."""
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x.astype(np.float32)})[0]
    with torch.no_grad():
        want = RealProbability(net).eval()(torch.from_numpy(x.astype(np.float32))).numpy()
    if got.shape != want.shape or got.dtype != np.float32:
        raise ExportError(f"p_real has shape {got.shape} {got.dtype}, expected {want.shape} float32")
    diff = float(np.max(np.abs(got - want))) if x.size else 0.0
    if not diff <= tolerance:
        raise ExportError(
            f"ONNX and PyTorch differ by {diff:.2e} > {tolerance:.0e} on "
            f"{len(x)} samples; the export is not faithful"
        )
    return diff


def checked_graph(net: nn.Module, info: ModelInfo, parity_x: np.ndarray) -> tuple[onnx.ModelProto, float]:
    """The uncalibrated graph with `info`'s metadata, checked against PyTorch on up to 256 samples.

    Calibration, policy and gate come next (`rbc1000.train.calibration.validate`).
    """
    model = with_metadata(to_onnx_bytes(net.eval()), info)
    return model, check_parity(model, net, parity_x[:256])


def export_model(net: nn.Module, info: ModelInfo, parity_x: np.ndarray, out: Path) -> float:
    """Export, check and save without calibration or policy; returns the parity max abs difference."""
    model, diff = checked_graph(net, info, parity_x)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return diff


def metrics_json(metrics: dict[str, float | None], dataset: str, stage: str) -> str:
    """The test-metrics metadata value: the metrics plus where they were measured."""
    return json.dumps(
        {"dataset": dataset, "stage": stage, "split": "test", **{k: v for k, v in metrics.items()}},
        sort_keys=True,
    )
