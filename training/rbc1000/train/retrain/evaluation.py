"""The fixed, append-only evaluation set: human-labelled alerts no model ever trains on.

Membership is a pure function of the survey and the alert id (a SHA-256 hash against the
recorded fraction, drawn per survey so every survey keeps its share), so an alert that was
ever used for training can never become an evaluation alert later, nor the other way round.
The members are also recorded by id in `<registry>/evaluation.json`, which only grows: the
fraction recorded when the set was created stays in force, whatever a later run is given.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rbc1000.model.registry import write_json_atomic

EVALUATION_FILE = "evaluation.json"


def in_evaluation(survey: str, alert_id: str, fraction: float) -> bool:
    """Whether alert `alert_id` of `survey` belongs to the evaluation set at `fraction`."""
    digest = hashlib.sha256(f"rbc-eval:{survey}:{alert_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def sample_id(survey: str, alert_id: str) -> str:
    """The training loaders' id of an alert: `<survey>:<alert id>`."""
    return f"{survey}:{alert_id}"


@dataclass
class EvaluationSet:
    """Recorded members (`<survey>:<alert id>`) and the fraction that chose them."""

    fraction: float
    members: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, registry: Path, fraction: float) -> EvaluationSet:
        path = registry / EVALUATION_FILE
        if not path.is_file():
            return cls(fraction)
        data = json.loads(path.read_text())
        return cls(float(data["fraction"]), set(data["members"]))

    def save(self, registry: Path) -> None:
        registry.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            registry / EVALUATION_FILE,
            {"fraction": self.fraction, "size": len(self.members), "members": sorted(self.members)},
        )

    def extend(self, labelled: Iterable[tuple[str, str]]) -> int:
        """Add the hash-chosen members among (survey, alert id) pairs; returns how many were new."""
        before = len(self.members)
        for survey, alert_id in labelled:
            if in_evaluation(survey, alert_id, self.fraction):
                self.members.add(sample_id(survey, alert_id))
        return len(self.members) - before

    def __contains__(self, sample: object) -> bool:
        return sample in self.members

    def per_survey(self, present: Iterable[str]) -> dict[str, int]:
        """Members among `present` sample ids, counted by survey."""
        counts: dict[str, int] = {}
        for sample in present:
            if sample in self.members:
                survey = sample.split(":", 1)[0]
                counts[survey] = counts.get(survey, 0) + 1
        return counts

    def fingerprint(self, present: Iterable[str]) -> str:
        """SHA-256 (16 hex digits) of the members among `present` (those with a label today)."""
        chosen = sorted(s for s in present if s in self.members)
        return hashlib.sha256("\n".join(chosen).encode()).hexdigest()[:16]
