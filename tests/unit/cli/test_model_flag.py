"""`--model [SURVEY=]PATH`: a bare path and survey pairs, from flags, the environment and `rbc config`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rbc1000.cli.model_flag import add_model_flag
from rbc1000.ops.cli_flags import add_settings_flags, given_flags
from rbc1000.ops.settings import ServeSettings, load_settings


def _settings(argv: list[str]) -> ServeSettings:
    parser = argparse.ArgumentParser()
    add_model_flag(parser)
    add_settings_flags(parser, ServeSettings)
    return load_settings(
        ServeSettings, given_flags(parser.parse_args(["--topics", "in", *argv]), ServeSettings)
    )


def test_survey_pairs_and_a_bare_path_fill_their_own_settings() -> None:
    settings = _settings(["--model", "ztf=a.onnx", "--model", "b.onnx", "--model", "lsst=c.onnx"])
    assert settings.survey_models == {"ztf": Path("a.onnx"), "lsst": Path("c.onnx")}
    assert settings.bare_model() == Path("b.onnx")


def test_only_survey_pairs_leave_no_bare_model() -> None:
    settings = _settings(["--model", "ztf=a.onnx", "--survey-models", "wfst=w.onnx"])
    assert settings.bare_model() is None and set(settings.survey_models) == {"ztf", "wfst"}


def test_a_path_with_an_equals_sign_is_still_a_path() -> None:
    assert _settings(["--model", "runs/lr=0.1/model.onnx"]).bare_model() == Path("runs/lr=0.1/model.onnx")


def test_the_environment_takes_survey_models_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBC_SURVEY_MODELS", '{"lsst": "l.onnx"}')
    settings = _settings([])
    assert settings.survey_models == {"lsst": Path("l.onnx")} and settings.bare_model() is None
