"""Whether a loaded model may serve: its quality gate and the canary, at start and at every reload.

`Scorer.load` checks that a model honours the contract; `admit` checks that it is good enough
to put in front of the stream:

1. the gate: the model's metadata carries a `rbc.gate` record with `passed` true
   (`rbc1000.model.gate`, written by `rbc-train export` and `rbc-train retrain`). Without one
   the model is refused, unless `allow_ungated`, in which case it serves with a WARNING at
   every load;
2. the canary (`rbc1000.model.canary`): the shipped real ZTF alerts with drb proxy labels are
   scored; a ROC-AUC below `canary_min_auc` or an uncertain share above
   `canary_max_uncertain` refuses the model, gate or not. A model that declares no ZTF policy
   has no canary (the set is ZTF stamps) and says so in the log.

A refusal raises `ModelRefused` (a `ContractError`, so every place that already refuses a
broken model refuses this one the same way: exit 2 at start, the old model kept at reload).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rbc1000.model.canary import CanaryResult, run_canary
from rbc1000.model.contract import ContractError
from rbc1000.model.scoring import Scorer

log = logging.getLogger(__name__)

# Chosen on the shipped canary (32 alerts): 0.1.0 scores ROC-AUC 0.934 with 0.0 uncertain,
# 0.2.0 0.977 with 0.281 uncertain; a model that outputs 1 - p of 0.2.0 scores 0.023. Under
# chance, the AUC of 16 + 16 alerts has a standard deviation of about 0.10, so 0.75 lies 2.5
# of them above a coin and well below either shipped model. The broken model sent
# 26 of 38 alerts (68%) to labelling; 0.5 leaves 0.2.0's wide legacy band room.
DEFAULT_CANARY_MIN_AUC = 0.75
DEFAULT_CANARY_MAX_UNCERTAIN = 0.5


class ModelRefused(ContractError):
    """A model that honours the contract but may not serve (no passed gate, failed canary)."""


@dataclass(frozen=True, slots=True)
class AdmissionRules:
    """What a model must pass before it serves (settings: `allow_ungated`, `canary_*`)."""

    allow_ungated: bool = False
    canary_min_auc: float = DEFAULT_CANARY_MIN_AUC
    canary_max_uncertain: float = DEFAULT_CANARY_MAX_UNCERTAIN

    def __call__(self, scorer: Scorer) -> None:
        admit(scorer, self)


def admit(scorer: Scorer, rules: AdmissionRules) -> CanaryResult | None:
    """Raise ModelRefused unless `scorer` may serve under `rules`; the canary result, if any."""
    check_gate(scorer, rules.allow_ungated)
    result = run_canary(scorer)
    where = f"model {scorer.path} version {scorer.info.version}"
    if result is None:
        log.info("canary_skipped path=%s reason=model_declares_no_ztf", scorer.path)
        return None
    if not result.roc_auc >= rules.canary_min_auc:  # NaN fails too
        raise ModelRefused(
            f"{where}: canary ROC-AUC {result.roc_auc:.3f} < floor {rules.canary_min_auc} "
            f"on {result.n} real ZTF alerts (drb proxy labels)"
        )
    if not result.uncertain_share <= rules.canary_max_uncertain:
        raise ModelRefused(
            f"{where}: canary uncertain share {result.uncertain_share:.3f} > ceiling "
            f"{rules.canary_max_uncertain} on {result.n} real ZTF alerts"
        )
    log.info("canary_passed path=%s version=%s %s", scorer.path, scorer.info.version, result.line())
    return result


def check_gate(scorer: Scorer, allow_ungated: bool) -> None:
    """ModelRefused unless the model carries a passed gate or `allow_ungated` says serve anyway."""
    gate = scorer.info.gate
    if gate is not None and gate.passed:
        return
    state = "no rbc.gate record" if gate is None else f"gate failed: {'; '.join(gate.reasons) or 'no reason'}"
    if not allow_ungated:
        raise ModelRefused(
            f"model {scorer.path} version {scorer.info.version} has {state}; export it with "
            "`rbc-train export` (or promote it with `rbc-train retrain`), or pass --allow-ungated"
        )
    log.warning(
        "model_ungated_serving path=%s version=%s state=%r allowed_by=--allow-ungated "
        "warning=NO_QUALITY_GATE",
        scorer.path,
        scorer.info.version,
        state,
    )
