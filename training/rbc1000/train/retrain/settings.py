"""The one typed settings object of `rbc-train retrain` (flags, `RBC_...` variables, `--config`)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from rbc1000.ops.logging import LogSettings
from rbc1000.ops.settings import _FileBackedSettings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `30m`, `24h` or `7d`; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 24h or 7d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


class RetrainSettings(_FileBackedSettings, LogSettings):
    """Where labels come from, where models go, how the challenger trains and when it may serve."""

    model_config = SettingsConfigDict(env_prefix="RBC_", env_nested_delimiter="__", extra="forbid")

    model_registry: Path = Field(
        description="model registry directory (`rbc models`) the champion is read from"
    )
    labels_url: str | None = Field(
        default=None,
        description="base URL of the labelling app (`rbc label serve`), e.g. http://127.0.0.1:8300",
    )
    labels_username: str | None = Field(default=None, description="labelling app admin account")
    labels_password: SecretStr | None = Field(default=None, description="that account's password")
    labels_dir: Path | None = Field(
        default=None,
        description="a labels export directory (`rbc label export --out DIR`) instead of the app",
    )
    run_config: Path | None = Field(
        default=None,
        description="RunConfig YAML of the challenger's training (epochs, network, ...); the job sets "
        "datasets, run_dir, m_initial, k_select and unlabelled itself",
    )
    extra_datasets: list[str] = Field(
        default_factory=list,
        description="simulated or proxy-labelled dataset specs mixed into training (recorded in the lineage)",
    )
    unlabelled_alerts: list[str] = Field(
        default_factory=list,
        description="stored unlabelled alerts from the stream (alerts:PATH) for the SSLS pool",
    )
    eval_fraction: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="share of human labels held out for evaluation (by alert-id hash)",
    )
    min_eval: int = Field(default=10, ge=2, description="evaluation labels needed (both classes) to decide")
    min_train: int = Field(default=10, ge=3, description="training labels needed to train a challenger")
    auc_tolerance: float = Field(
        default=0.01, ge=0, le=1, description="how far the challenger's ROC-AUC may fall below the champion's"
    )
    ece_tolerance: float = Field(
        default=0.0, ge=0, le=1, description="how far its calibration error may rise above the champion's"
    )
    bootstrap: int = Field(default=1000, ge=10, description="bootstrap resamples for the intervals")
    band_purity: float = Field(default=0.95, gt=0.5, lt=1, description="purity of decisions outside the band")
    seed: int = Field(default=0, description="seed of training and bootstrap")
    threads: int = Field(default=1, ge=0, description="torch and ONNX Runtime CPU threads (0: their default)")
    every: str | None = Field(
        default=None, description="run again after this long (90s, 30m, 24h); once if unset"
    )

    @model_validator(mode="after")
    def _check(self) -> RetrainSettings:
        if (self.labels_url is None) == (self.labels_dir is None):
            raise ValueError(
                "give exactly one of --labels-url (the labelling app) or --labels-dir (an export)"
            )
        if self.labels_url is not None and (self.labels_username is None or self.labels_password is None):
            raise ValueError("--labels-url needs --labels-username and RBC_LABELS_PASSWORD (env or --config)")
        if self.every is not None:
            parse_duration(self.every)
        return self

    def every_s(self) -> float | None:
        return None if self.every is None else parse_duration(self.every)
