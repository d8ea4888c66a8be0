"""The quality gate a model passed before it may serve, as it travels in the model's metadata.

One record, `GateRecord`, under one ONNX metadata key, `KEY_GATE` (a JSON object). The
retraining job (`rbc-train retrain`) writes it into every model it promotes and into the
version's `lineage.json`; the service and `rbc models show` read it back. What must stay
true: a record with `passed` False never reaches a registry's `current`. Later checks (the
service's canary at load, issue 13) extend the record with new optional fields, so readers
ignore keys they do not know.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

KEY_GATE = "rbc.gate"


@dataclass(frozen=True)
class GateRule:
    """When a challenger may replace the champion.

    `primary` (ROC-AUC) may fall at most `tolerance` below the champion's; the calibration
    error (ECE) may rise at most `ece_tolerance` above the champion's. Without a champion the
    primary metric's bootstrap lower bound must exceed `floor` (better than chance).
    """

    primary: str = "ROC_AUC"
    tolerance: float = 0.01
    calibration: str = "ECE"
    ece_tolerance: float = 0.0
    floor: float = 0.5


@dataclass(frozen=True)
class GateRecord:
    """The decision on one challenger and the evidence it was made on."""

    passed: bool
    rule: GateRule
    reasons: list[str]
    evaluation_fingerprint: str
    evaluation_size: int
    evaluation_per_survey: dict[str, int]
    challenger: dict[str, Any]
    champion: dict[str, Any] | None
    parent: str | None
    decided_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["rule"] = GateRule(
            **{k: v for k, v in dict(data["rule"]).items() if k in GateRule.__dataclass_fields__}
        )
        return cls(**known)

    @classmethod
    def from_json(cls, text: str) -> GateRecord:
        return cls.from_dict(dict(json.loads(text)))


def gate_from_metadata(meta: dict[str, str]) -> GateRecord | None:
    """The gate a model's metadata carries, or None when it has none (or an unreadable one)."""
    text = meta.get(KEY_GATE)
    if not text:
        return None
    try:
        return GateRecord.from_json(text)
    except (ValueError, KeyError, TypeError):
        return None


def gate_metadata(gate: GateRecord) -> dict[str, str]:
    """The metadata entry that carries `gate` (export, retraining and the tests' model factory)."""
    return {KEY_GATE: gate.to_json()}
