"""Which models may serve and what reaches the labellers: settings of `rbc serve`.

The quality gate and the canary (`rbc1000.model.admission`), the random labelling share and
the publishing of unscored alerts (`rbc1000.model.decisions`), as one mixin of
`rbc1000.ops.settings.ServeSettings`, so flags, `RBC_...` variables and `rbc config` come
from these fields like every other setting.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from rbc1000.model.admission import DEFAULT_CANARY_MAX_UNCERTAIN, DEFAULT_CANARY_MIN_AUC


class DecisionOptions(BaseModel):
    """The gate and canary every served model passes, and the labelling and unscored outputs."""

    allow_ungated: bool = Field(
        default=False,
        description="serve a model without a passed quality gate (rbc.gate), with a WARNING at every load",
    )
    canary_min_auc: float = Field(
        default=DEFAULT_CANARY_MIN_AUC,
        ge=0,
        le=1,
        description="refuse a model whose ROC-AUC on the shipped canary (real ZTF alerts, drb "
        "proxy labels) is below this",
    )
    canary_max_uncertain: float = Field(
        default=DEFAULT_CANARY_MAX_UNCERTAIN,
        ge=0,
        le=1,
        description="refuse a model that calls more than this share of the canary uncertain",
    )
    labelling_random_share: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description="share of all scored alerts also sent to labelling at random, marked random, "
        "within the labelling rate cap (an unbiased sample of confident decisions)",
    )
    publish_unscored: bool = Field(
        default=True,
        description="publish alerts of surveys no model judges (decision unscored, p_real null); "
        "off where scored-schema 1.0 readers consume (they cannot read a null p_real)",
    )
