"""A tiny ONNX model honouring the service's model contract, built with onnx.helper (no torch).

p_real = sigmoid(scale * (max(difference stamp) - centre)): the brightest pixel of the
preprocessed difference stamp, in units of its background noise. It is not a classifier
anyone should use; it gives tests and benchmarks a real ONNX Runtime session with the
contract's names, shapes and metadata, and scores that spread over [0, 1] on real ZTF
alerts (with the defaults, about a quarter of the fink ztf_v4.02 alerts fall in the
low-confidence band).

Its metadata carries a per-survey policy (every survey, the same threshold and band, when the
band straddles the threshold) and a passed quality gate, as a model from `rbc-train export`
does, so the service's gate lets it serve. It is no classifier: on the shipped canary set its
ROC-AUC is about 0.30, so tests that serve it through `rbc serve` relax the canary
(`RELAXED_CANARY_ENV`) unless the canary is what they test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rbc1000.model.contract import INPUT_NAME, KEY_VERSION, OUTPUT_NAME, ModelInfo
from rbc1000.model.gate import KEY_GATE, GateRecord, GateRule
from rbc1000.model.policy import ModelPolicy, SurveyEvaluation, SurveyPolicy
from rbc1000.model.preprocessing import PREPROCESSING_VERSION, STAMP_SIZE

OPSET = 17
IR_VERSION = 8
ALL_SURVEYS = ("ztf", "lsst", "wfst")
# `rbc serve` settings that let the tiny model past the canary (it is not a classifier).
RELAXED_CANARY_ENV = {"RBC_CANARY_MIN_AUC": "0", "RBC_CANARY_MAX_UNCERTAIN": "1"}


def passed_gate(passed: bool = True) -> GateRecord:
    """A gate record as `rbc-train export` writes one, on a made-up evaluation."""
    return GateRecord(
        passed=passed,
        rule=GateRule(),
        reasons=[] if passed else ["ROC_AUC lower bound 0.40 <= floor 0.5"],
        evaluation_fingerprint="test",
        evaluation_size=100,
        evaluation_per_survey={"ztf": 100},
        challenger={"ROC_AUC": 0.9 if passed else 0.4},
        champion=None,
        parent=None,
        decided_at="2026-01-01T00:00:00Z",
    )


def survey_policy(
    surveys: tuple[str, ...], threshold: float, band: tuple[float, float]
) -> ModelPolicy | None:
    """The same threshold and band for each survey; None (legacy) when the band does not
    straddle the threshold, which a policy requires."""
    if not surveys or not band[0] < threshold < band[1]:
        return None
    evaluation = SurveyEvaluation(set_name="test", fingerprint="test", n=100, labels="none: tests")
    one = SurveyPolicy(threshold=threshold, band=band, evaluation=evaluation)
    return ModelPolicy(surveys=dict.fromkeys(surveys, one))


def tiny_info(
    version: str = "test-1",
    low_confidence: tuple[float, float] = (0.35, 0.65),
    threshold: float = 0.5,
    preprocessing_version: str = PREPROCESSING_VERSION,
    surveys: tuple[str, ...] = ALL_SURVEYS,
    gate: GateRecord | None = None,
    gated: bool = True,
) -> ModelInfo:
    """Metadata for the tiny model (its label source says it learned nothing).

    `surveys` () leaves the policy out (a legacy model: ZTF only); `gated` False leaves the
    gate out; `gate` replaces the passed one."""
    return ModelInfo(
        name="rbc-tiny-test",
        version=version,
        preprocessing_version=preprocessing_version,
        threshold=threshold,
        low_confidence=low_confidence,
        dataset_fingerprint="none",
        label_source="none: hand-set weights for tests",
        test_metrics_json="{}",
        policy=survey_policy(surveys, threshold, low_confidence),
        gate=(gate or passed_gate()) if gated else None,
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


def fixed_batch_model(info: ModelInfo | None = None, batch: int = 4) -> onnx.ModelProto:
    """The tiny model exported with a fixed batch dimension (the contract refuses it)."""
    model = tiny_model(info)
    for value in (*model.graph.input, *model.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = batch
    onnx.checker.check_model(model)
    return model


def inverted_model(source: str | Path, version: str = "0.0.0-inverted") -> onnx.ModelProto:
    """`source`'s graph with p_real replaced by 1 - p_real: a gated, contract-abiding model that is
    worse than random (as a one-epoch run can be), for the canary to catch."""
    model = onnx.load(str(source))
    for node in model.graph.node:
        node.output[:] = ["p_real_raw" if o == OUTPUT_NAME else o for o in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"))
    model.graph.node.append(helper.make_node("Sub", ["one", "p_real_raw"], [OUTPUT_NAME]))
    meta = {p.key: p.value for p in model.metadata_props}
    meta |= {KEY_VERSION: version, KEY_GATE: passed_gate().to_json()}
    del model.metadata_props[:]
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model
