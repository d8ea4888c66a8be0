"""One model per survey: which loaded model judges the alerts of each survey, and none for the rest.

A `ModelPlan` says which file judges which surveys, from `--model`:

- `--model PATH` (or the default model): that model judges every survey its policy declares
  (`rbc1000.model.policy`; a legacy model without a policy declares ZTF only);
- `--model ztf=PATH --model lsst=PATH`: each file judges the survey named, and must declare
  it (a model is never put in front of a survey it was not validated for); several surveys
  may name the same file, which is loaded once;
- both: the bare PATH judges the surveys it declares that no `SURVEY=PATH` took.

A `ModelSet` is the plan made real: a `Scorer` per survey. An alert of a survey that no model
judges gets no verdict (`rbc1000.model.decisions`: decision `unscored`). `ModelSet.primary`
is the model whose preprocessing version the decode stage prepares triplets for; a model of
another version is fed triplets preprocessed again in Python from the cutouts (logged at
start by `describe`). `previous` is the set that served before the last reload, kept so a
model that turns bad after a reload can be rolled back (`rbc1000.model.set_reload`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rbc1000.model.contract import ModelInfo
from rbc1000.model.policy import ModelPolicy, SurveyPolicy
from rbc1000.model.scoring import Scorer

log = logging.getLogger(__name__)

SURVEY_NAMES = ("ztf", "lsst", "wfst")


class PlanError(ValueError):
    """A model plan that cannot be served (a model given a survey it does not declare)."""


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """Which file judges which surveys: `explicit` survey -> path, `bare` for the rest."""

    bare: Path | None
    explicit: Mapping[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.explicit) - set(SURVEY_NAMES))
        if unknown:
            raise PlanError(
                f"unknown survey {', '.join(unknown)} in --model; known: {', '.join(SURVEY_NAMES)}"
            )
        if self.bare is None and not self.explicit:
            raise PlanError("no model: give --model PATH or --model SURVEY=PATH")

    def paths(self) -> list[Path]:
        """Each file once, the bare one first."""
        found = [] if self.bare is None else [self.bare]
        return found + [p for p in dict.fromkeys(self.explicit.values()) if p not in found]

    def assign(self, scorers: Mapping[Path, Scorer]) -> dict[str, Scorer]:
        """Survey -> the scorer that judges it; PlanError for a survey its model does not declare."""
        by_survey: dict[str, Scorer] = {}
        for survey, path in self.explicit.items():
            scorer = scorers[path]
            if scorer.info.serving_policy().for_survey(survey) is None:
                declared = ", ".join(scorer.info.serving_policy().surveys)
                raise PlanError(
                    f"model {path} (version {scorer.info.version}) is not validated for {survey}: "
                    f"its policy declares {declared}"
                )
            by_survey[survey] = scorer
        if self.bare is not None:
            bare = scorers[self.bare]
            for survey in bare.info.serving_policy().surveys:
                by_survey.setdefault(survey, bare)
        return by_survey


def plan_from_settings(model_path: Path, survey_models: Mapping[str, Path], bare_given: bool) -> ModelPlan:
    """The plan of `--model` flags: the bare path counts when given or when no survey is named."""
    bare = model_path if bare_given or not survey_models else None
    return ModelPlan(bare, dict(survey_models))


@dataclass(frozen=True, slots=True)
class ModelSet:
    """The models serving now, one per judged survey; duck-types a Scorer's `info`/`provider`."""

    by_survey: Mapping[str, Scorer]
    primary: Scorer
    previous: ModelSet | None = None

    @classmethod
    def single(cls, scorer: Scorer) -> ModelSet:
        """One model for every survey its policy declares."""
        return cls(dict.fromkeys(scorer.info.serving_policy().surveys, scorer), scorer)

    @classmethod
    def from_plan(
        cls, plan: ModelPlan, scorers: Mapping[Path, Scorer], previous: ModelSet | None = None
    ) -> ModelSet:
        by_survey = plan.assign(scorers)
        primary = scorers[plan.paths()[0]]
        if primary not in by_survey.values() and by_survey:
            primary = next(iter(by_survey.values()))
        return cls(by_survey, primary, previous)

    @property
    def info(self) -> ModelInfo:
        return self.primary.info

    @property
    def provider(self) -> str:
        return self.primary.provider

    def for_survey(self, survey: str) -> Scorer | None:
        return self.by_survey.get(survey)

    def policy_for(self, survey: str) -> SurveyPolicy | None:
        scorer = self.by_survey.get(survey)
        return None if scorer is None else scorer.info.serving_policy().for_survey(survey)

    def policy(self) -> ModelPolicy:
        """Every judged survey's policy, from the model that judges it."""
        surveys = {s: p for s in self.by_survey if (p := self.policy_for(s)) is not None}
        legacy = all(s.info.serving_policy().legacy for s in self.scorers())
        return ModelPolicy(surveys=surveys, legacy=legacy)

    def scorers(self) -> list[Scorer]:
        """Each loaded model once, the primary first."""
        found = [self.primary]
        for scorer in self.by_survey.values():
            if all(scorer is not f for f in found):
                found.append(scorer)
        return found

    def without_previous(self) -> ModelSet:
        return ModelSet(self.by_survey, self.primary)

    def describe(self) -> str:
        """`survey=name:version` for every judged survey, for logs."""
        return (
            ",".join(f"{s}={m.info.name}:{m.info.version}" for s, m in sorted(self.by_survey.items())) or "-"
        )


Serving = Scorer | ModelSet  # what the run loop holds: one model, or one per survey


def as_model_set(serving: Serving) -> ModelSet:
    """A ModelSet from either; a bare Scorer judges the surveys its policy declares."""
    return serving if isinstance(serving, ModelSet) else ModelSet.single(serving)


def log_model_set(models: ModelSet) -> None:
    """The surveys judged and by whom, the legacy models, and who preprocesses in Python."""
    log.info("models_in_use surveys=%s unjudged=%s", models.describe(), _unjudged(models))
    for scorer in models.scorers():
        if scorer.info.serving_policy().legacy:
            log.warning(
                "model_legacy_policy path=%s version=%s surveys=ztf reason=no_rbc_policy_metadata",
                scorer.path,
                scorer.info.version,
            )
        if scorer.info.preprocessing_version != models.info.preprocessing_version:
            log.info(
                "model_preprocessing path=%s version=%s preprocessing=%s by=python_from_cutouts "
                "reason=decode_stage_prepares_%s",
                scorer.path,
                scorer.info.version,
                scorer.info.preprocessing_version,
                models.info.preprocessing_version,
            )


def _unjudged(models: ModelSet) -> str:
    return ",".join(s for s in SURVEY_NAMES if s not in models.by_survey) or "-"
