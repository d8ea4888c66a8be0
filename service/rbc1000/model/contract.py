"""The ONNX model contract shared by `training` (export) and `service` (load).

An exported model has one input `triplets` float32 `[N, 3, 63, 63]` (the output of
`rbc1000.model.preprocessing.make_triplet`, stacked) and one output `p_real` float32 `[N]`,
plus string metadata under the keys below. The batch dimension `N` must be dynamic (a
symbolic name): the service scores batches of any size. The service refuses a model that
breaks it, and one whose preprocessing version is not among `ACCEPTED_PREPROCESSING`: each
accepted model is fed the triplets of its own version (`rbc1000.model.preprocessing.preprocess`).

Two metadata records travel with the model and are parsed here: the per-survey policy
(`rbc1000.model.policy`, `rbc.policy`; a model without one is read as legacy, ZTF only) and
the quality gate it passed (`rbc1000.model.gate`, `rbc.gate`; None when it has none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rbc1000.model.gate import KEY_GATE, GateRecord, gate_from_metadata
from rbc1000.model.policy import KEY_POLICY, ModelPolicy, PolicyError, policy_from_metadata
from rbc1000.model.preprocessing import PREPROCESSING_VERSIONS

INPUT_NAME = "triplets"
OUTPUT_NAME = "p_real"

# Metadata keys (ONNX `metadata_props`, all values are strings).
KEY_NAME = "rbc.model_name"
KEY_VERSION = "rbc.model_version"
KEY_PREPROCESSING = "rbc.preprocessing_version"
KEY_DATASET_FINGERPRINT = "rbc.dataset_fingerprint"
KEY_THRESHOLD = "rbc.threshold"
KEY_LOW_CONFIDENCE = "rbc.low_confidence_band"  # JSON [low, high]
KEY_TEST_METRICS = "rbc.test_metrics"  # JSON object
KEY_LABELS = "rbc.label_source"  # free text: what the model learned from

REQUIRED_KEYS = (KEY_NAME, KEY_VERSION, KEY_PREPROCESSING, KEY_THRESHOLD, KEY_LOW_CONFIDENCE)
ACCEPTED_PREPROCESSING = PREPROCESSING_VERSIONS


class ContractError(ValueError):
    """The model file does not honour the contract above."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model says about itself through its metadata."""

    name: str
    version: str
    preprocessing_version: str
    threshold: float
    low_confidence: tuple[float, float]
    dataset_fingerprint: str = ""
    label_source: str = ""
    test_metrics_json: str = "{}"
    # Parsed records; left out of equality and hashing (they hold dicts).
    policy: ModelPolicy | None = field(default=None, compare=False)  # None: see serving_policy
    gate: GateRecord | None = field(default=None, compare=False)

    def serving_policy(self) -> ModelPolicy:
        """The surveys this model may judge and how; a legacy model: ZTF with its global band."""
        if self.policy is not None:
            return self.policy
        return policy_from_metadata({}, self.threshold, self.low_confidence)

    def to_metadata(self) -> dict[str, str]:
        extra = {} if self.policy is None or self.policy.legacy else {KEY_POLICY: self.policy.to_json()}
        if self.gate is not None:
            extra[KEY_GATE] = self.gate.to_json()
        return extra | {
            KEY_NAME: self.name,
            KEY_VERSION: self.version,
            KEY_PREPROCESSING: self.preprocessing_version,
            KEY_THRESHOLD: repr(float(self.threshold)),
            KEY_LOW_CONFIDENCE: json.dumps(list(self.low_confidence)),
            KEY_DATASET_FINGERPRINT: self.dataset_fingerprint,
            KEY_LABELS: self.label_source,
            KEY_TEST_METRICS: self.test_metrics_json,
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> ModelInfo:
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing:
            raise ContractError(f"model metadata lacks {missing}; export it with `rbc-train export`")
        try:
            low, high = (float(v) for v in json.loads(meta[KEY_LOW_CONFIDENCE]))
            threshold = float(meta[KEY_THRESHOLD])
        except (ValueError, TypeError) as exc:
            raise ContractError(f"unreadable threshold or low-confidence band: {exc}") from exc
        if not 0.0 <= low <= threshold <= high <= 1.0:
            raise ContractError(f"need 0 <= low {low} <= threshold {threshold} <= high {high} <= 1")
        try:
            policy = policy_from_metadata(meta, threshold, (low, high))
        except PolicyError as exc:
            raise ContractError(str(exc)) from exc
        return cls(
            name=meta[KEY_NAME],
            version=meta[KEY_VERSION],
            preprocessing_version=meta[KEY_PREPROCESSING],
            threshold=threshold,
            low_confidence=(low, high),
            dataset_fingerprint=meta.get(KEY_DATASET_FINGERPRINT, ""),
            label_source=meta.get(KEY_LABELS, ""),
            test_metrics_json=meta.get(KEY_TEST_METRICS, "{}"),
            policy=policy,
            gate=gate_from_metadata(meta),
        )

    def test_metrics(self) -> dict[str, Any]:
        return dict(json.loads(self.test_metrics_json or "{}"))


def check_preprocessing(info: ModelInfo, where: str) -> None:
    """ContractError unless this code implements the preprocessing version `info` declares."""
    if info.preprocessing_version not in ACCEPTED_PREPROCESSING:
        raise ContractError(
            f"{where}: model expects preprocessing {info.preprocessing_version!r} but this service "
            f"implements {', '.join(ACCEPTED_PREPROCESSING)}; export the model again with this "
            "version of the project, or run the service release that matches the model"
        )
