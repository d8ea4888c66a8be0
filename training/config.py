"""The one typed configuration of a training run, loaded from YAML, overridable by flags.

Every field of `RunConfig` is also a command-line flag (`--field-name`), generated from the
model so the two cannot drift apart. The resolved configuration is saved as `config.yaml` in
the run directory, which is how a run is resumed and how an export finds its dataset.
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SelectMetric = Literal["Pre", "Acc", "Rec", "F1", "MCC", "AP", "Sum"]
SelectionMeasure = Literal["least_confidence", "margin", "entropy"]


class RunConfig(BaseModel):
    """A whole ITS -> selection -> ALS -> SSLS x R run; defaults follow the paper."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    datasets: list[str] = Field(default_factory=list, description="dataset paths (concatenated)")
    run_dir: str = Field("runs/rbc", description="output directory; an existing run resumes")
    model: Literal["compact", "resnet18-224"] = Field("compact", description="network")
    m_initial: int = Field(900, ge=2, description="M: labels for the initial training stage")
    k_select: int = Field(100, ge=0, description="K: samples chosen for expert labelling")
    unlabelled: int = Field(10000, ge=0, description="size of the unlabelled pool")
    rounds: int = Field(3, ge=0, description="R: semi-supervised rounds")
    val_fraction: float = Field(0.4, gt=0, lt=1, description="validation share of labelled set")
    split_mode: Literal["fixed", "reshuffle"] = Field(
        "fixed", description="fixed train/val split for all stages, or the paper's reshuffle")
    init: Literal["fresh", "finetune"] = Field(
        "fresh", description="fresh model per stage (paper) or fine-tune the previous stage")
    selection: SelectionMeasure = Field("least_confidence", description="uncertainty measure")
    rebalance_k: bool = Field(True, description="rebalance the K to the labelled class ratio")
    pseudo_threshold: float = Field(0.95, gt=0.5, le=1, description="pseudo-label confidence")
    select_metric: SelectMetric = Field("Sum", description="validation metric for best epoch")
    supervised_all: bool = Field(False, description="also train once on every pool label")
    supervised_max: int = Field(0, ge=0, description="cap on full-supervision samples (0: none)")
    test_max: int = Field(0, ge=0, description="cap on test samples, stratified (0: all)")
    epochs: int = Field(100, ge=1, description="epochs per stage")
    batch_size: int = Field(256, ge=1, description="training batch size")
    eval_batch_size: int = Field(1024, ge=1, description="inference batch size")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate")
    lr_step: int = Field(40, ge=1, description="epochs between learning-rate drops")
    lr_gamma: float = Field(0.1, gt=0, le=1, description="learning-rate drop factor")
    augment: bool = Field(True, description="random horizontal and vertical flips")
    seed: int = Field(0, description="seed for splits, sampling and initialisation")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="cuda when present")
    amp: bool = Field(True, description="mixed precision (bfloat16) on CUDA")
    threads: int = Field(0, ge=0, description="torch CPU threads (0: torch's default)")
    progress: bool = Field(True, description="tqdm progress bars")

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        if not self.datasets:
            raise ValueError("no dataset: give `datasets:` in the YAML or --datasets PATH [PATH ...]")
        return self


def _flag_type(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """argparse keyword arguments for a field annotation."""
    origin = get_origin(annotation)
    if origin is Literal:
        return str, {"choices": list(get_args(annotation))}
    if origin in (list, typing.List):  # noqa: UP006
        return str, {"nargs": "+"}
    if origin in (typing.Union, types.UnionType):
        return str, {}
    if annotation is bool:
        return None, {"action": argparse.BooleanOptionalAction}
    return annotation, {}


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--config YAML` and one flag per RunConfig field (default: unset, YAML wins)."""
    parser.add_argument("--config", type=Path, help="YAML file of RunConfig fields")
    group = parser.add_argument_group("run configuration (each overrides the YAML)")
    for name, field in RunConfig.model_fields.items():
        kind, extra = _flag_type(field.annotation)
        if kind is not None:
            extra["type"] = kind
        default = field.default_factory() if field.default_factory else field.default
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                           help=f"{field.description} (default: {default})", **extra)


def load_config(path: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """RunConfig from a YAML file (optional) with non-None `overrides` on top."""
    data: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(f"config {path} not found; see training/configs/ for examples")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"config {path} must be a YAML mapping of RunConfig fields")
    data.update({k: v for k, v in overrides.items() if v is not None and k in RunConfig.model_fields})
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"invalid run configuration:\n{exc}") from exc


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved configuration as YAML."""
    path.write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
