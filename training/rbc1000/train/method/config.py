"""The one typed configuration of a training run, loaded from YAML, overridable by flags.

Every field of `RunConfig` is also a command-line flag (`--field-name`), generated from the
model by the generator every `rbc` command uses (`rbc1000.ops.cli_flags`), so the two cannot
drift apart. The resolved configuration is saved as `config.yaml` in
the run directory, which is how a run is resumed and how an export finds its dataset.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rbc1000.ops.cli_flags import add_settings_flags
from rbc1000.ops.env_check import problem_lines
from rbc1000.ops.settings import SettingsError

ModelName = Literal["compact", "compact-coord", "resnet18-224"]
SelectMetric = Literal["Pre", "Acc", "Rec", "F1", "MCC", "AP", "Sum"]
SelectionMeasure = Literal["least_confidence", "margin", "entropy"]


class RunConfig(BaseModel):
    """A whole ITS -> selection -> ALS -> SSLS x R run; defaults follow the paper."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    datasets: list[str] = Field(default_factory=list, description="dataset paths (concatenated)")
    run_dir: str = Field(default="runs/rbc", description="output directory; an existing run resumes")
    model: ModelName = Field(default="compact-coord", description="network")
    m_initial: int = Field(default=900, ge=2, description="M: labels for the initial training stage")
    k_select: int = Field(default=100, ge=0, description="K: samples chosen for expert labelling")
    unlabelled: int = Field(default=10000, ge=0, description="size of the unlabelled pool")
    rounds: int = Field(default=3, ge=0, description="R: semi-supervised rounds")
    val_fraction: float = Field(default=0.4, gt=0, lt=1, description="validation share of labelled set")
    split_mode: Literal["fixed", "reshuffle"] = Field(
        default="fixed", description="fixed train/val split for all stages, or the paper's reshuffle"
    )
    init: Literal["fresh", "finetune"] = Field(
        default="fresh", description="fresh model per stage (paper) or fine-tune the previous stage"
    )
    selection: SelectionMeasure = Field(default="least_confidence", description="uncertainty measure")
    class_weighting: Literal["balanced", "none"] = Field(
        default="balanced",
        description="loss weights per class: balanced (n / (2 n_class) over the stage's training "
        "set; class imbalance is weighted, no label is ever discarded) or none",
    )
    unlabelled_alerts: list[str] = Field(
        default_factory=list,
        description="alert packets (alerts:PATH[,PATH] or PATH) whose stamps join the SSLS "
        "unlabelled pool without their labels; alerts the datasets already hold are left out",
    )
    skip_empty_rounds: bool = Field(
        default=False,
        description="skip an SSLS round that would get zero pseudo-labels (the report says so) "
        "instead of stopping the run with an error",
    )
    preprocessing: Literal["rbc-pp-1", "rbc-pp-2"] = Field(
        default="rbc-pp-2", description="preprocessing version of every triplet (written into the model)"
    )
    pseudo_threshold: float = Field(default=0.95, gt=0.5, le=1, description="pseudo-label confidence")
    select_metric: SelectMetric = Field(default="Sum", description="validation metric for best epoch")
    supervised_all: bool = Field(default=False, description="also train once on every pool label")
    supervised_max: int = Field(default=0, ge=0, description="cap on full-supervision samples (0: none)")
    test_max: int = Field(default=0, ge=0, description="cap on test samples, stratified (0: all)")
    epochs: int = Field(default=100, ge=1, description="epochs per stage")
    min_updates: int = Field(
        default=0,
        ge=0,
        description="at least this many Adam steps per stage: small stages get more "
        "epochs, the learning-rate step stretched alike (0: same epochs everywhere, the paper)",
    )
    batch_size: int = Field(default=256, ge=1, description="training batch size")
    eval_batch_size: int = Field(
        default=1024, ge=1, description="inference batch size (use about 64 for resnet18-224: memory)"
    )
    lr: float = Field(default=2e-4, gt=0, description="Adam learning rate")
    lr_step: int = Field(default=40, ge=1, description="epochs between learning-rate drops")
    lr_gamma: float = Field(default=0.1, gt=0, le=1, description="learning-rate drop factor")
    augment: bool = Field(default=True, description="random horizontal and vertical flips")
    seed: int = Field(default=0, description="seed for splits, sampling and initialisation")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="cuda when present")
    amp: bool = Field(default=True, description="mixed precision (bfloat16) on CUDA")
    threads: int = Field(default=0, ge=0, description="torch CPU threads (0: torch's default)")
    progress: bool = Field(default=True, description="tqdm progress bars")

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        if not self.datasets:
            raise ValueError("no dataset: give `datasets:` in the YAML or --datasets PATH ...")
        return self


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--config YAML` and one flag per RunConfig field (default: unset, YAML wins)."""
    add_settings_flags(
        parser,
        RunConfig,
        title="run configuration (each overrides the YAML)",
        config_help="YAML file of RunConfig fields",
    )


def load_config(path: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """RunConfig from a YAML file (optional) with non-None `overrides` on top.

    Raises SettingsError (a ValueError) naming each problem, for the command line's error path.
    """
    data: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise SettingsError(f"config {path} not found; see training/configs/ for examples")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise SettingsError(f"config {path} must be a YAML mapping of RunConfig fields")
    fields = RunConfig.model_fields
    data.update({k: v for k, v in overrides.items() if v is not None and k in fields})
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(*problem_lines(exc)) from None


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved configuration as YAML."""
    path.write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
