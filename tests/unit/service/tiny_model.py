"""A tiny contract-valid ONNX model for the service's unit tests, built with onnx.helper.

p_real = sigmoid(gain * max(difference channel) + bias): deterministic, cheap, and it
separates a bright point source in the difference stamp from a blank one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from service.model_contract import INPUT_NAME, OUTPUT_NAME, ModelInfo
from service.preprocessing import PREPROCESSING_VERSION


def tiny_info(version: str = "0.0.1-test", preprocessing: str = PREPROCESSING_VERSION,
              band: tuple[float, float] = (0.4, 0.6)) -> ModelInfo:
    return ModelInfo(name="rbc-tiny-test", version=version, preprocessing_version=preprocessing,
                     threshold=0.5, low_confidence=band, label_source="none (test model)")


def tiny_model(info: ModelInfo | None = None, gain: float = 2.0, bias: float = -7.0,
               output_name: str = OUTPUT_NAME) -> onnx.ModelProto:
    info = info or tiny_info()
    x = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, 63, 63])
    y = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N"])
    inits = [
        numpy_helper.from_array(np.array([2], dtype=np.int64), "start"),
        numpy_helper.from_array(np.array([3], dtype=np.int64), "end"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis"),
        numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), "axes"),
        numpy_helper.from_array(np.array(gain, dtype=np.float32), "gain"),
        numpy_helper.from_array(np.array(bias, dtype=np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("Slice", [INPUT_NAME, "start", "end", "axis"], ["diff"]),
        helper.make_node("ReduceMax", ["diff", "axes"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "gain"], ["z0"]),
        helper.make_node("Add", ["z0", "bias"], ["z"]),
        helper.make_node("Sigmoid", ["z"], [output_name]),
    ]
    graph = helper.make_graph(nodes, "rbc_tiny", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    helper.set_model_props(model, info.to_metadata())
    onnx.checker.check_model(model)
    return model


def write_tiny_model(path: Path, info: ModelInfo | None = None, **kwargs: float) -> Path:
    path.write_bytes(tiny_model(info, **kwargs).SerializeToString())
    return path
