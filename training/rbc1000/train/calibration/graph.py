"""Bake a temperature fit into an exported graph, so `p_real` is calibrated wherever it is read.

The network's output is renamed `p_real_uncalibrated` and followed by
Clip(EPS, 1 - EPS) -> Log(p) - Log(1 - p) -> Mul(1 / T) -> Add(b) -> Sigmoid, whose output
takes the contract's name `p_real` (float32, same dynamic batch axis). The input is untouched.
All added nodes are float32 and sit after the network's head, so the FP16 variant
(`rbc1000.train.nn.fp16`, which halves only the convolutional body) keeps them in float32.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rbc1000.model.contract import OUTPUT_NAME
from rbc1000.train.calibration.temperature import EPS, TemperatureFit

RAW_OUTPUT = f"{OUTPUT_NAME}_uncalibrated"
_PREFIX = "rbc_calibration"


class CalibrationGraphError(ValueError):
    """The graph has no single `p_real` output, or is already calibrated."""


def append_calibration(model: onnx.ModelProto, fit: TemperatureFit) -> onnx.ModelProto:
    """A copy of `model` whose `p_real` is `fit` applied to the original `p_real`."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    if [o.name for o in graph.output] != [OUTPUT_NAME]:
        raise CalibrationGraphError(
            f"expected one output {OUTPUT_NAME!r}, got {[o.name for o in graph.output]}"
        )
    if any(node.output and node.output[0] == RAW_OUTPUT for node in graph.node):
        raise CalibrationGraphError("the graph is already calibrated")
    for node in graph.node:
        node.output[:] = [RAW_OUTPUT if name == OUTPUT_NAME else name for name in node.output]
        node.input[:] = [RAW_OUTPUT if name == OUTPUT_NAME else name for name in node.input]
    one = np.float32(1.0)
    constants = {
        "eps": np.float32(EPS),
        "one_minus_eps": one - np.float32(EPS),
        "one": one,
        "inv_t": np.float32(1.0 / fit.temperature),
        "bias": np.float32(fit.bias),
    }
    for name, value in constants.items():
        graph.initializer.append(
            numpy_helper.from_array(np.array(value, dtype=np.float32), f"{_PREFIX}_{name}")
        )

    def c(name: str) -> str:
        return f"{_PREFIX}_{name}"

    graph.node.extend(
        [
            helper.make_node("Clip", [RAW_OUTPUT, c("eps"), c("one_minus_eps")], [c("p")]),
            helper.make_node("Log", [c("p")], [c("log_p")]),
            helper.make_node("Sub", [c("one"), c("p")], [c("q")]),
            helper.make_node("Log", [c("q")], [c("log_q")]),
            helper.make_node("Sub", [c("log_p"), c("log_q")], [c("logit")]),
            helper.make_node("Mul", [c("logit"), c("inv_t")], [c("scaled")]),
            helper.make_node("Add", [c("scaled"), c("bias")], [c("shifted")]),
            helper.make_node("Sigmoid", [c("shifted")], [OUTPUT_NAME]),
        ]
    )
    del graph.value_info[:]
    onnx.checker.check_model(out, full_check=True)
    return out
