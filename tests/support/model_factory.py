"""A tiny ONNX model honouring the service's model contract, built with onnx.helper (no torch).

p_real = sigmoid(scale * (max(difference stamp) - centre)): the brightest pixel of the
preprocessed difference stamp, in units of its background noise. It is not a classifier
anyone should use; it gives tests and benchmarks a real ONNX Runtime session with the
contract's names, shapes and metadata, and scores that spread over [0, 1] on real ZTF
alerts (with the defaults, about a quarter of the fink ztf_v4.02 alerts fall in the
low-confidence band).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rbc1000.model.contract import INPUT_NAME, OUTPUT_NAME, ModelInfo
from rbc1000.model.preprocessing import PREPROCESSING_VERSION, STAMP_SIZE

OPSET = 17
IR_VERSION = 8


def tiny_info(
    version: str = "test-1",
    low_confidence: tuple[float, float] = (0.35, 0.65),
    threshold: float = 0.5,
    preprocessing_version: str = PREPROCESSING_VERSION,
) -> ModelInfo:
    """Metadata for the tiny model (its label source says it learned nothing)."""
    return ModelInfo(
        name="rbc-tiny-test",
        version=version,
        preprocessing_version=preprocessing_version,
        threshold=threshold,
        low_confidence=low_confidence,
        dataset_fingerprint="none",
        label_source="none: hand-set weights for tests",
        test_metrics_json="{}",
    )


def tiny_model(info: ModelInfo | None = None, scale: float = 1.5, centre: float = 3.9) -> onnx.ModelProto:
    """The model as an in-memory ModelProto, checked by onnx.checker."""
    info = info or tiny_info()
    weights = np.array([[0.0], [0.0], [scale]], dtype=np.float32)
    bias = np.array([-scale * centre], dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMax", [INPUT_NAME], ["peak"], axes=[2, 3], keepdims=0),
        helper.make_node("Gemm", ["peak", "w", "b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
        helper.make_node("Flatten", ["prob"], ["prob2d"], axis=0),
        helper.make_node("Squeeze", ["prob2d", "zero"], [OUTPUT_NAME]),
    ]
    graph = helper.make_graph(
        nodes,
        "rbc_tiny",
        inputs=[
            helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, STAMP_SIZE, STAMP_SIZE])
        ],
        outputs=[helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N"])],
        initializer=[
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(bias, "b"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rbc-tests"
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, info.to_metadata())
    onnx.checker.check_model(model)
    return model


def write_tiny_model(
    path: str | Path, info: ModelInfo | None = None, scale: float = 1.5, centre: float = 3.9
) -> Path:
    """Write the tiny model to `path` (atomically, so a watcher never reads half a file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(tiny_model(info, scale, centre).SerializeToString())
    tmp.replace(path)
    return path
