"""The gate and the canary decide which models may serve; the contract wants a dynamic batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from rbc1000.assets import canary_path, default_model_path
from rbc1000.model.admission import AdmissionRules, ModelRefused, admit
from rbc1000.model.canary import canary_set, roc_auc, run_canary
from rbc1000.model.contract import ContractError
from rbc1000.model.scoring import ModelWatcher, Scorer
from rbc1000.ops.metrics import Metrics
from tests.support.model_factory import (
    fixed_batch_model,
    inverted_model,
    passed_gate,
    tiny_info,
    write_tiny_model,
)

LENIENT = AdmissionRules(canary_min_auc=0.0, canary_max_uncertain=1.0)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _default(tmp_path: Path) -> Scorer:
    return Scorer.load(_write(tmp_path / "default.onnx", default_model_path().read_bytes()), "cpu", 1)


def test_canary_is_small_labelled_and_both_classes() -> None:
    canary = canary_set()
    assert canary_path().stat().st_size < 2_000_000
    assert len(canary.ids) == len(set(canary.ids)) == 32
    assert int(canary.labels.sum()) == 16 and all(c.complete for c in canary.cutouts)


def test_roc_auc_counts_ties_half() -> None:
    import numpy as np

    labels = np.array([1, 1, 0, 0])
    assert roc_auc(labels, np.array([0.9, 0.8, 0.1, 0.2])) == 1.0
    assert roc_auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert roc_auc(labels, np.array([0.1, 0.2, 0.9, 0.8])) == 0.0


def test_a_model_without_a_gate_is_refused_unless_allowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ungated = Scorer.load(write_tiny_model(tmp_path / "u.onnx", tiny_info(gated=False)), "cpu", 1)
    with pytest.raises(ModelRefused, match=r"no rbc\.gate record.*--allow-ungated"):
        admit(ungated, LENIENT)
    admit(ungated, AdmissionRules(True, 0.0, 1.0))
    assert any(r.levelname == "WARNING" and "model_ungated_serving" in r.message for r in caplog.records)


def test_a_failed_gate_is_refused_with_its_reasons(tmp_path: Path) -> None:
    failed = Scorer.load(write_tiny_model(tmp_path / "f.onnx", tiny_info(gate=passed_gate(False))), "cpu", 1)
    with pytest.raises(ModelRefused, match=r"gate failed: ROC_AUC lower bound 0\.40"):
        admit(failed, LENIENT)


def test_the_shipped_model_passes_the_canary(tmp_path: Path) -> None:
    result = admit(_default(tmp_path), AdmissionRules(allow_ungated=True))
    assert result is not None and result.roc_auc >= 0.9 and result.uncertain_share <= 0.5


def test_a_worse_than_random_gated_model_fails_the_canary(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.onnx", inverted_model(default_model_path()).SerializeToString())
    bad = Scorer.load(path, "cpu", 1)
    assert bad.info.gate is not None and bad.info.gate.passed
    with pytest.raises(ModelRefused, match=r"canary ROC-AUC 0\.0\d+ < floor 0\.75"):
        admit(bad, AdmissionRules())


def test_too_many_uncertain_on_the_canary_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelRefused, match=r"canary uncertain share 0\.\d+ > ceiling 0\.1"):
        admit(_default(tmp_path), AdmissionRules(True, 0.0, 0.1))


def test_a_model_that_declares_no_ztf_has_no_canary(tmp_path: Path) -> None:
    lsst_only = Scorer.load(write_tiny_model(tmp_path / "l.onnx", tiny_info(surveys=("lsst",))), "cpu", 1)
    assert run_canary(lsst_only) is None
    assert admit(lsst_only, AdmissionRules()) is None


def test_hot_reload_refuses_a_worse_model_and_keeps_the_old(tmp_path: Path) -> None:
    path = _write(tmp_path / "served.onnx", default_model_path().read_bytes())
    metrics = Metrics(CollectorRegistry())
    rules = AdmissionRules(allow_ungated=True)
    current = Scorer.load(path, "cpu", 1)
    watcher = ModelWatcher(path, "cpu", current=current, metrics=metrics, intra_op_threads=1, admit=rules)
    _write(tmp_path / "bad.tmp", inverted_model(default_model_path()).SerializeToString()).replace(path)
    assert watcher.poll() is None and watcher.refused == 1
    assert metrics.registry.get_sample_value("rbc_model_reloads_total", {"outcome": "refused"}) == 1.0


def test_a_fixed_batch_dimension_is_refused_at_load(tmp_path: Path) -> None:
    path = _write(tmp_path / "fixed.onnx", fixed_batch_model().SerializeToString())
    with pytest.raises(ContractError, match="batch dimension is fixed at 4; the contract needs a dynamic N"):
        Scorer.load(path, "cpu", 1)
