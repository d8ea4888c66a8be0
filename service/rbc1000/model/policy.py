"""Which surveys a model may judge, and how: the per-survey policy in the model's metadata.

One JSON object under `KEY_POLICY` (`rbc.policy`), written by `rbc-train export` and read by
the service. For every survey the model was validated for it holds the decision threshold,
the labelling band around it (low < threshold < high, so the band straddles the threshold),
the evaluation on that survey's real alerts that the threshold and band were chosen on, and a
reference `p_real` histogram for drift monitoring. `calibration` names the held-out real set
the baked-in calibration was fitted on.

A survey that is not a key of `surveys` gets no verdict from this model. A model exported
before policies existed (0.1.0, 0.2.0) carries none; `policy_from_metadata` reads it as
validated for ZTF only, with the global threshold and band, and says so (`legacy` True),
because those models were trained and evaluated on ZTF stamps alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

KEY_POLICY = "rbc.policy"
POLICY_FORMAT = 1
LEGACY_SURVEYS = ("ztf",)


class PolicyError(ValueError):
    """A policy that cannot be read or breaks the rules above."""


@dataclass(frozen=True)
class SurveyEvaluation:
    """The real alerts a survey's threshold and band were chosen on, and how the model did.

    `labels` says where the truth came from; proxy labels (ZTF `drb`, Rubin `reliability`)
    say so here, e.g. "proxy: drb >= 0.9 real, <= 0.1 bogus".
    """

    set_name: str
    fingerprint: str
    n: int
    labels: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SurveyPolicy:
    """How one survey's alerts are decided; `band` is (low, high) with low < threshold < high."""

    threshold: float
    band: tuple[float, float]
    evaluation: SurveyEvaluation
    # Reference p_real histogram on the evaluation set: len(edges) == len(counts) + 1.
    reference_edges: tuple[float, ...] = ()
    reference_counts: tuple[int, ...] = ()

    def check(self, survey: str) -> None:
        low, high = self.band
        if not 0.0 <= low < self.threshold < high <= 1.0:
            raise PolicyError(
                f"survey {survey!r}: need 0 <= low {low} < threshold {self.threshold} < high {high} <= 1"
            )
        if self.evaluation.n <= 0:
            raise PolicyError(f"survey {survey!r}: no evaluation on that survey's alerts")
        if self.reference_counts and len(self.reference_edges) != len(self.reference_counts) + 1:
            raise PolicyError(f"survey {survey!r}: reference histogram edges and counts disagree")


@dataclass(frozen=True)
class Calibration:
    """The calibration baked into the graph and the held-out real set it was fitted on."""

    method: str  # "temperature" or "isotonic"
    set_name: str
    fingerprint: str
    n: int
    labels: str
    ece_before: float
    ece_after: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelPolicy:
    """Every survey a model may judge; `legacy` marks a policy inferred for an old model."""

    surveys: dict[str, SurveyPolicy]
    calibration: Calibration | None = None
    legacy: bool = False

    def for_survey(self, survey: str) -> SurveyPolicy | None:
        return self.surveys.get(survey)

    def to_json(self) -> str:
        body = asdict(self)
        body.pop("legacy")
        body["format"] = POLICY_FORMAT
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelPolicy:
        try:
            data = dict(json.loads(text))
            surveys = {name: _survey(dict(body)) for name, body in dict(data["surveys"]).items()}
            cal = data.get("calibration")
            calibration = Calibration(**dict(cal)) if cal else None
        except (ValueError, KeyError, TypeError) as exc:
            raise PolicyError(f"unreadable {KEY_POLICY}: {exc}") from exc
        if not surveys:
            raise PolicyError(f"{KEY_POLICY} declares no survey")
        for name, policy in surveys.items():
            policy.check(name)
        return cls(surveys=surveys, calibration=calibration)


def _survey(body: dict[str, Any]) -> SurveyPolicy:
    low, high = (float(v) for v in body["band"])
    return SurveyPolicy(
        threshold=float(body["threshold"]),
        band=(low, high),
        evaluation=SurveyEvaluation(**dict(body["evaluation"])),
        reference_edges=tuple(float(v) for v in body.get("reference_edges", ())),
        reference_counts=tuple(int(v) for v in body.get("reference_counts", ())),
    )


def policy_from_metadata(meta: dict[str, str], threshold: float, band: tuple[float, float]) -> ModelPolicy:
    """The policy a model's metadata declares; for a model without one, ZTF only (legacy).

    A legacy model's band may end at its threshold (0.1.0's did); it is kept as it was, since
    the model cannot be re-validated here, and the service logs that the model is legacy.
    """
    text = meta.get(KEY_POLICY)
    if text:
        return ModelPolicy.from_json(text)
    evaluation = SurveyEvaluation(set_name="legacy: none recorded", fingerprint="", n=0, labels="unknown")
    legacy = SurveyPolicy(threshold=threshold, band=band, evaluation=evaluation)
    return ModelPolicy(surveys={s: legacy for s in LEGACY_SURVEYS}, legacy=True)


def policy_metadata(policy: ModelPolicy, legacy_survey: str = LEGACY_SURVEYS[0]) -> dict[str, str]:
    """The metadata entries that carry `policy`: `rbc.policy`, plus the global threshold and band.

    The global keys (`rbc.threshold`, `rbc.low_confidence_band`) are those of `legacy_survey`
    (else of the first survey), so a service that predates policies decides as this one would.
    Training's export and the tests' model factory both write policies through this function.
    """
    from rbc1000.model.contract import KEY_LOW_CONFIDENCE, KEY_THRESHOLD

    if not policy.surveys:
        raise PolicyError(f"{KEY_POLICY} declares no survey")
    for name, survey in policy.surveys.items():
        survey.check(name)
    chosen = policy.surveys.get(legacy_survey) or next(iter(policy.surveys.values()))
    return {
        KEY_POLICY: policy.to_json(),
        KEY_THRESHOLD: repr(float(chosen.threshold)),
        KEY_LOW_CONFIDENCE: json.dumps([float(v) for v in chosen.band]),
    }
