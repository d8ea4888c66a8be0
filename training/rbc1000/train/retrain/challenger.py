"""Train the challenger by the RB-C1000 stages and export it in the service's ONNX contract.

The export is `rbc-train export`'s: calibration, per-survey policy and the export gate come
from `rbc1000.train.calibration.validate`, fitted and measured on the job's evaluation set
(split in halves by alert), with surveys that cannot be validated left undeclared. The job's
gate then compares champion and challenger on the whole evaluation set, the calibration half
included, so the challenger's ECE there is somewhat optimistic; the export's own figures (in
the job's gate record, `extra.export_gate`) are on the evaluation half alone.

How the human labels map onto the paper's stages: they are the experts' labels. The labelling
topic already carries the alerts the champion was least sure of (the paper's ALS selection),
so the job gives every training label to the run: the ITS stage trains on M of them, the K
the ITS model is least sure of join for ALS (K = min(k_select, a third of the labels), so
ALS ends with every human label), and the SSLS rounds pseudo-label the stored unlabelled
alerts of the stream. Configured extra datasets join the labelled pool and are recorded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from rbc1000.model.contract import ModelInfo
from rbc1000.model.gate import KEY_GATE, GateRecord
from rbc1000.train.calibration.holdout import SurveyAlerts
from rbc1000.train.calibration.validate import validate_model
from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.method.config import RunConfig, load_config
from rbc1000.train.method.stages import PARITY_FILE, run_pipeline, stage_dir
from rbc1000.train.nn.export import checked_graph, choose_band, choose_threshold, metrics_json
from rbc1000.train.nn.networks import build_model
from rbc1000.train.retrain.settings import RetrainSettings

CHALLENGER_FILE = "challenger.onnx"


@dataclass(frozen=True)
class Challenger:
    """The exported challenger, its metadata and the stage table of its run."""

    model: bytes
    info: ModelInfo
    stages: list[dict[str, Any]]
    export_gate: GateRecord | None = None  # the export's own gate (calibration and policy evidence)


def run_config(settings: RetrainSettings, n_pool: int, run_dir: Path, datasets: list[str]) -> RunConfig:
    """The challenger's RunConfig: the YAML's training choices, the job's data and sizes."""
    base = load_config(settings.run_config, {"datasets": datasets}).model_dump()
    k = max(1, min(int(base["k_select"]), n_pool // 3))
    base.update(
        datasets=datasets,
        run_dir=str(run_dir),
        m_initial=n_pool - k,
        k_select=k,
        unlabelled=k,
        unlabelled_alerts=list(settings.unlabelled_alerts),
        skip_empty_rounds=True,
        supervised_all=False,
        test_max=0,
        seed=settings.seed,
        threads=settings.threads,
        progress=False,
    )
    return RunConfig.model_validate(base)


def train_challenger(
    cfg: RunConfig, ds: TripletDataset, version: str, label_source: str, band_purity: float
) -> Challenger:
    """Run the stages on `ds` and export the last stage's model as `version`."""
    records = run_pipeline(cfg, ds)
    run_dir = Path(cfg.run_dir)
    last = records[-1]
    directory = stage_dir(run_dir, last.key, cfg)
    checkpoint = torch.load(directory / "model.pt", map_location="cpu")
    net = build_model(checkpoint["model"])
    net.load_state_dict(checkpoint["state"])
    scores = np.load(directory / "scores.npz")
    threshold = choose_threshold(scores["val_y"], scores["val_p"])
    info = ModelInfo(
        name=f"rbc-{cfg.model}",
        version=version,
        preprocessing_version=cfg.preprocessing,
        threshold=threshold,
        low_confidence=choose_band(scores["val_y"], scores["val_p"], threshold, band_purity),
        dataset_fingerprint=ds.fingerprint(),
        label_source=label_source,
        test_metrics_json=metrics_json(last.test_metrics, "evaluation set", last.key),
    )
    model, _ = checked_graph(net, info, np.load(run_dir / PARITY_FILE))
    validated = validate_model(model, info, evaluation_alerts(ds), strict=False)
    out = run_dir / CHALLENGER_FILE
    onnx.save(validated.model, str(out))
    return Challenger(out.read_bytes(), validated.info, [asdict(r) for r in records], validated.gate)


def evaluation_alerts(ds: TripletDataset) -> list[SurveyAlerts]:
    """The evaluation set (`ds`'s test split, human-labelled alerts no stage trains on), per survey.

    The retraining job does not keep the packets' object ids, so each alert is its own object
    in the calibration/evaluation split.
    """
    held = ds.split("test") if "test" in ds.splits else ds.subset(np.arange(0))
    ids = held.ids.astype(str)
    surveys = sorted({i.split(":", 1)[0] for i in ids if ":" in i})
    out = []
    for survey in surveys:
        keep = np.flatnonzero([i.startswith(f"{survey}:") for i in ids])
        part = held.subset(keep)
        labels = "human labels" if not part.proxy.any() else "human and proxy labels"
        out.append(
            SurveyAlerts(survey, f"{survey}: retraining evaluation set", labels, ids[keep], part.x, part.y)
        )
    return out


def with_gate(model: bytes, gate: GateRecord) -> bytes:
    """The model with its gate record written into the ONNX metadata (`rbc.gate`)."""
    proto = onnx.load_from_string(model)
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != KEY_GATE]
    del proto.metadata_props[:]
    for key, value in [*kept, (KEY_GATE, gate.to_json())]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return bytes(proto.SerializeToString())
