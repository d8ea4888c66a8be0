"""The half-precision (FP16) variant of an exported model, checked against its FP32 original.

`to_fp16` rewrites the graph with onnx alone (onnxconverter-common is not a dependency). The
body, every layer after the first convolution up to the last one, runs in float16: it holds
nearly all of the arithmetic. The stem (the first convolution and what feeds it) and the head
(pooling, linear layer, softmax) stay float32: rounding the arcsinh-scaled input or the stem's
weights to float16 alone moves p_real of the shipped compact model by about 1e-3, the whole
parity budget, and the head costs nothing. Cast nodes at the borders keep the contract
(`triplets` float32 in, `p_real` float32 out). Inputs that ONNX types as float32 whatever the
data (Resize scales and roi) stay float32.

`export_fp16` writes `<name>.fp16.onnx` next to the FP32 file only when the two agree on the
triplets given (real alerts: `alert_triplets`): max |diff| of p_real at most `FP16_TOLERANCE`,
and no real/bogus decision swapped for a triplet both models place outside the low-confidence
band. A score that crosses a band edge (into or out of human labelling) is counted in
`band_moves` but refuses nothing: it is within the tolerance of a band edge, not a wrong
decision. This module imports no torch, so it also converts a model outside training.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableSequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rbc1000.model.contract import INPUT_NAME, OUTPUT_NAME, ModelInfo

FP16_TOLERANCE = 1e-3
KEY_PRECISION = "rbc.precision"  # "fp16" in the variant; absent (float32) in a plain export
_CONV_OPS = frozenset({"Conv", "ConvTranspose"})
_FLOAT32_INPUTS: dict[str, frozenset[int]] = {"Resize": frozenset({1, 2}), "Upsample": frozenset({1})}


class Fp16Error(RuntimeError):
    """The FP16 variant disagrees with the FP32 model, or the graph could not be converted."""


@dataclass(frozen=True, slots=True)
class Fp16Parity:
    """FP16 against FP32: samples, max |diff| of p_real, real/bogus swaps, band-edge crossings."""

    samples: int
    max_abs_diff: float
    decision_changes: int
    band_moves: int


def fp16_path(fp32_path: Path) -> Path:
    """`models/x.onnx` -> `models/x.fp16.onnx`."""
    return fp32_path.with_name(f"{fp32_path.stem}.fp16{fp32_path.suffix}")


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` with its convolutional body in float16 (see the module docstring)."""
    half = onnx.ModelProto()
    half.CopyFrom(model)
    graph = half.graph
    body = _body(graph)
    floats = _float_tensors(model)
    _halve_initializers(graph, body)
    casts = _cast_into_body(graph, body, floats) + _cast_out_of_body(graph, body, floats)
    for index in body:
        _halve_constant(graph.node[index])
    nodes = _topological([*graph.node, *casts], graph)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    entry = half.metadata_props.add()
    entry.key, entry.value = KEY_PRECISION, "fp16"
    try:
        onnx.checker.check_model(half, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise Fp16Error(f"the float16 graph is not valid ONNX: {exc}") from exc
    return half


def _body(graph: onnx.GraphProto) -> set[int]:
    """Indices of the nodes after the first convolution up to the last one, and their inputs."""
    convs = [i for i, node in enumerate(graph.node) if node.op_type in _CONV_OPS]
    if len(convs) < 2:
        raise Fp16Error("the model has fewer than two convolutions: no body to run in float16")
    return _ancestors(graph, convs[-1]) - _ancestors(graph, convs[0])


def _ancestors(graph: onnx.GraphProto, start: int) -> set[int]:
    """`start` and the indices of every node it depends on."""
    producer = {name: i for i, node in enumerate(graph.node) for name in node.output}
    found: set[int] = set()
    todo = [start]
    while todo:
        index = todo.pop()
        if index not in found:
            found.add(index)
            todo.extend(producer[name] for name in graph.node[index].input if name in producer)
    return found


def _topological(nodes: list[onnx.NodeProto], graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """`nodes` in an order where each runs after its inputs exist (original order on ties)."""
    ready = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    ordered: list[onnx.NodeProto] = []
    waiting = list(nodes)
    while waiting:
        node = next((n for n in waiting if all(name in ready for name in n.input)), None)
        if node is None:
            raise Fp16Error("the float16 graph has a cycle or a missing input")
        waiting.remove(node)
        ordered.append(node)
        ready.update(node.output)
    return ordered


def _float_tensors(model: onnx.ModelProto) -> set[str]:
    """Names of the float32 tensors of the original model, from ONNX shape inference."""
    graph = onnx.shape_inference.infer_shapes(model).graph
    values = [*graph.input, *graph.output, *graph.value_info]
    floats = {v.name for v in values if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    return floats | {t.name for t in graph.initializer if t.data_type == TensorProto.FLOAT}


def _halve_initializers(graph: onnx.GraphProto, body: set[int]) -> None:
    """Float32 weights the body reads become float16; a weight the head also reads is copied."""
    body_names = {name for i in body for name in graph.node[i].input} - _float32_only(graph)
    head_names = {name for i, node in enumerate(graph.node) if i not in body for name in node.input}
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or init.name not in body_names:
            continue
        if init.name in head_names:
            copy = f"{init.name}__fp32"
            graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(init), copy))
            for i, node in enumerate(graph.node):
                if i not in body:
                    _rename(node.input, init.name, copy)
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))


def _float32_only(graph: onnx.GraphProto) -> set[str]:
    return {
        name
        for node in graph.node
        for i, name in enumerate(node.input)
        if i in _FLOAT32_INPUTS.get(node.op_type, frozenset())
    }


def _halve_constant(node: onnx.NodeProto) -> None:
    """A Constant node's float32 value becomes float16; other nodes are left alone."""
    if node.op_type != "Constant":
        return
    for attr in node.attribute:
        if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
            attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16)))


def _cast_into_body(graph: onnx.GraphProto, body: set[int], floats: set[str]) -> list[onnx.NodeProto]:
    """Each float32 tensor the body reads from outside it (not a weight) goes through a Cast to float16."""
    produced = {name for i in body for name in graph.node[i].output}
    weights = {t.name for t in graph.initializer}
    entering = {name for i in body for name in graph.node[i].input} & floats
    casts = []
    for name in sorted(entering - produced - weights):
        for i in body:
            _rename(graph.node[i].input, name, f"{name}__fp16")
        casts.append(helper.make_node("Cast", [name], [f"{name}__fp16"], to=TensorProto.FLOAT16))
    return casts


def _cast_out_of_body(graph: onnx.GraphProto, body: set[int], floats: set[str]) -> list[onnx.NodeProto]:
    """Each float tensor leaving the body (to the head or as a graph output) returns to float32."""
    leaving = {name for i in body for name in graph.node[i].output if name in floats}
    used = {name for i, node in enumerate(graph.node) if i not in body for name in node.input}
    used |= {value.name for value in graph.output}
    casts = []
    for name in sorted(leaving & used):
        inner = f"{name}__fp16"
        for i in body:
            _rename(graph.node[i].output, name, inner)
            _rename(graph.node[i].input, name, inner)
        casts.append(helper.make_node("Cast", [inner], [name], to=TensorProto.FLOAT))
    return casts


def _rename(names: MutableSequence[str], old: str, new: str) -> None:
    for i, name in enumerate(names):
        if name == old:
            names[i] = new


def p_real(model: onnx.ModelProto, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """p_real of `model` on triplets `x` with ONNX Runtime's CPU provider."""
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    parts = [
        session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x[i : i + batch], np.float32)})[0]
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(parts).astype(np.float32) if parts else np.empty(0, np.float32)


def check_fp16_parity(
    fp32: onnx.ModelProto, fp16: onnx.ModelProto, x: np.ndarray, tolerance: float = FP16_TOLERANCE
) -> Fp16Parity:
    """Compare p_real of both models on `x`; raises Fp16Error when they disagree (see module)."""
    from rbc1000.model.decisions import decide

    if len(x) == 0:
        raise Fp16Error("no triplets to check the FP16 variant on")
    info = ModelInfo.from_metadata({p.key: p.value for p in fp32.metadata_props})
    want, got = p_real(fp32, x), p_real(fp16, x)
    diff = float(np.max(np.abs(got - want)))
    pairs = [(decide(float(a), info), decide(float(b), info)) for a, b in zip(want, got, strict=True)]
    moves = sum(1 for a, b in pairs if a != b and "uncertain" in (a, b))
    changes = sum(1 for a, b in pairs if a != b and "uncertain" not in (a, b))
    if not diff <= tolerance or changes:
        raise Fp16Error(
            f"FP16 differs from FP32 by up to {diff:.2e} (limit {tolerance:.0e}) and swaps "
            f"{changes} real/bogus decisions outside the low-confidence band on {len(x)} triplets"
        )
    return Fp16Parity(len(x), diff, changes, moves)


def export_fp16(fp32_path: Path, x: np.ndarray, out: Path | None = None) -> tuple[Path, Fp16Parity]:
    """Convert the FP32 model at `fp32_path`, check it on `x`, write it; returns (path, parity)."""
    fp32 = onnx.load(str(fp32_path))
    fp16 = to_fp16(fp32)
    parity = check_fp16_parity(fp32, fp16, x)
    out = out or fp16_path(fp32_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(fp16, str(out))
    return out, parity


def alert_triplets(paths: Iterable[str | Path], limit: int = 0, version: str = "rbc-pp-1") -> np.ndarray:
    """Preprocessed triplets `[N, 3, 63, 63]` (preprocessing `version`) of the alerts under
    `paths` (unusable ones skipped)."""
    from rbc1000.alerts.alert import Alert, DecodeError
    from rbc1000.alerts.sources import iter_alerts
    from rbc1000.model.preprocessing import TRIPLET_SHAPE, triplet_from_cutouts

    triplets: list[np.ndarray] = []
    for item in iter_alerts(paths):
        if not isinstance(item.result, Alert):
            continue
        try:
            triplets.append(triplet_from_cutouts(item.result.cutouts, version))
        except DecodeError:
            continue
        if limit and len(triplets) >= limit:
            break
    return np.stack(triplets) if triplets else np.empty((0, *TRIPLET_SHAPE), np.float32)
