"""Scorer.load validates the ONNX contract; ModelWatcher swaps only good new files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from prometheus_client import CollectorRegistry

from rbc1000.model.contract import ContractError
from rbc1000.model.providers import ProviderError, choose_providers
from rbc1000.model.scoring import ModelWatcher, Scorer
from rbc1000.ops.metrics import Metrics
from tests.support.model_factory import tiny_info, tiny_model, write_tiny_model


def test_load_reads_metadata_and_scores_in_unit_interval(tmp_path: Path) -> None:
    scorer = Scorer.load(write_tiny_model(tmp_path / "m.onnx"), provider="cpu")
    assert scorer.info.name == "rbc-tiny-test"
    assert scorer.provider == "CPUExecutionProvider"
    scores = scorer.score(np.random.default_rng(1).normal(size=(7, 3, 63, 63)).astype(np.float32))
    assert scores.dtype == np.float32 and scores.shape == (7,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_score_of_empty_batch_is_empty(tmp_path: Path) -> None:
    scorer = Scorer.load(write_tiny_model(tmp_path / "m.onnx"))
    assert scorer.score(np.empty((0, 3, 63, 63), dtype=np.float32)).shape == (0,)


def test_score_refuses_wrong_shape(tmp_path: Path) -> None:
    scorer = Scorer.load(write_tiny_model(tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match="shape"):
        scorer.score(np.zeros((2, 3, 32, 32), dtype=np.float32))


def test_refuses_other_preprocessing_version(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "m.onnx", tiny_info(preprocessing_version="rbc-pp-999"))
    with pytest.raises(ContractError, match="rbc-pp-999"):
        Scorer.load(path)


def test_refuses_wrong_output_name(tmp_path: Path) -> None:
    model = tiny_model()
    model.graph.output[0].name = "score"
    model.graph.node[-1].output[0] = "score"
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(ContractError, match="p_real"):
        Scorer.load(path)


def test_refuses_missing_metadata(tmp_path: Path) -> None:
    model = tiny_model()
    del model.metadata_props[:]
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(ContractError, match="metadata"):
        Scorer.load(path)


def test_refuses_scores_outside_unit_interval(tmp_path: Path) -> None:
    model = tiny_model()
    (sigmoid,) = [n for n in model.graph.node if n.op_type == "Sigmoid"]
    sigmoid.op_type = "Identity"  # raw logits: not probabilities
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(ContractError, match="outside"):
        Scorer.load(path)


def test_refuses_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"not an onnx model at all")
    with pytest.raises(ContractError, match="not a loadable"):
        Scorer.load(path)


def test_cuda_demanded_without_cuda_fails_clearly() -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime offers CUDA")
    with pytest.raises(ProviderError, match="onnxruntime-gpu"):
        choose_providers("cuda")
    assert choose_providers("auto") == ["CPUExecutionProvider"]


def test_tensorrt_demanded_without_tensorrt_fails_clearly() -> None:
    import onnxruntime as ort

    if "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime offers TensorRT")
    with pytest.raises(ProviderError, match="TensorrtExecutionProvider"):
        choose_providers("trt")


def _replace(path: Path, data: bytes) -> None:
    """Write then rename, as a deployment should; bump mtime so the change is visible."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_watcher_takes_up_a_valid_new_model(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "m.onnx")
    current = Scorer.load(path)
    metrics = Metrics(CollectorRegistry())
    watcher = ModelWatcher(path, "cpu", current=current, metrics=metrics)
    assert watcher.poll() is None
    _replace(path, tiny_model(tiny_info(version="0.0.2-test")).SerializeToString())
    new = watcher.poll()
    assert new is not None and new.info.version == "0.0.2-test"
    assert watcher.poll() is None
    assert metrics.registry.get_sample_value("rbc_model_reloads_total", {"outcome": "accepted"}) == 1.0
    assert (
        metrics.registry.get_sample_value(
            "rbc_model_info",
            {"name": "rbc-tiny-test", "version": "0.0.2-test", "provider": "CPUExecutionProvider"},
        )
        == 1.0
    )


def test_watcher_refuses_corrupt_file_once_and_keeps_current(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "m.onnx")
    current = Scorer.load(path)
    metrics = Metrics(CollectorRegistry())
    watcher = ModelWatcher(path, "cpu", current=current, metrics=metrics)
    _replace(path, b"\x08\x07corrupt")
    assert watcher.poll() is None
    assert watcher.poll() is None  # the same bad file is not retried
    assert watcher.refused == 1
    assert metrics.registry.get_sample_value("rbc_model_reloads_total", {"outcome": "refused"}) == 1.0
    scores = current.score(np.zeros((2, 3, 63, 63), dtype=np.float32))
    assert np.all(np.isfinite(scores))
    _replace(path, tiny_model(tiny_info(version="0.0.3-test")).SerializeToString())
    fixed = watcher.poll()
    assert fixed is not None and fixed.info.version == "0.0.3-test"


def test_watcher_ignores_touch_and_missing_file(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "m.onnx")
    watcher = ModelWatcher(path, "cpu", current=Scorer.load(path))
    _replace(path, path.read_bytes())
    assert watcher.poll() is None
    path.unlink()
    assert watcher.poll() is None
    assert watcher.accepted == 0 and watcher.refused == 0
