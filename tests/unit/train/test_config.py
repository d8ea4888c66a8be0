"""Run configuration: YAML plus flags, and the stage schedule."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rbc1000.train.method.config import RunConfig, add_config_flags, load_config, save_config
from rbc1000.train.nn.trainer import stage_schedule


def test_every_field_is_a_flag_and_flags_override_yaml(tmp_path: Path) -> None:
    yaml_path = tmp_path / "run.yaml"
    yaml_path.write_text("datasets: [a]\nepochs: 5\nclass_weighting: balanced\nmodel: compact\n")
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    flags = {a.dest for a in parser._actions}
    assert set(RunConfig.model_fields) <= flags
    args = parser.parse_args(
        [
            "--config",
            str(yaml_path),
            "--epochs",
            "7",
            "--class-weighting",
            "none",
            "--datasets",
            "x",
            "y",
            "--split-mode",
            "reshuffle",
        ]
    )
    cfg = load_config(args.config, vars(args))
    assert (cfg.epochs, cfg.class_weighting, cfg.datasets, cfg.split_mode) == (
        7,
        "none",
        ["x", "y"],
        "reshuffle",
    )
    assert cfg.model == "compact" and cfg.k_select == 100  # YAML, then the paper's defaults
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml", {}) == cfg


def test_bad_configuration_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no dataset"):
        load_config(None, {})
    with pytest.raises(ValueError, match="pseudo_threshold"):
        load_config(None, {"datasets": ["a"], "pseudo_threshold": 0.3})


def test_min_updates_stretches_small_stages_only() -> None:
    cfg = RunConfig(datasets=["a"], epochs=10, lr_step=8, batch_size=100, min_updates=400)
    assert stage_schedule(500, cfg) == (80, 64)  # 5 batches an epoch: 80 epochs
    assert stage_schedule(10_000, cfg) == (10, 8)  # already 1000 steps
    assert stage_schedule(500, RunConfig(datasets=["a"], epochs=10, lr_step=8)) == (10, 8)


def test_run_flags_come_from_the_one_generator_with_help_from_the_model() -> None:
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    text = " ".join(parser.format_help().split())
    assert "epochs per stage (default: 100)" in text
    assert "--skip-empty-rounds, --no-skip-empty-rounds" in text
    for name, field in RunConfig.model_fields.items():
        assert str(field.description).split(" (")[0].split(";")[0][:20] in text, name
