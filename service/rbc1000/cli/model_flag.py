"""`--model [SURVEY=]PATH`, repeatable: the one flag of `rbc serve` and `rbc score` that fills two settings.

A bare `--model PATH` sets `model_path` (the model that judges every survey its policy
declares); `--model ztf=PATH` adds `ztf` to `survey_models`, as `--survey-models ztf=PATH`
does. Only a known survey name before `=` makes a pair, so a path that contains `=` still
works as a bare path.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rbc1000.model.survey_models import SURVEY_NAMES


class _ModelFlag(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        text = str(values)
        survey, sep, path = text.partition("=")
        if sep and survey in SURVEY_NAMES:
            pairs = list(getattr(namespace, "survey_models", None) or [])
            namespace.survey_models = [*pairs, (survey, path)]
        else:
            namespace.model_path = Path(text)


def add_model_flag(parser: argparse.ArgumentParser) -> None:
    """Add `--model`; call before the settings flags so the generated single-path flag yields."""
    parser.add_argument(
        "--model",
        dest="model_path",
        action=_ModelFlag,
        default=None,
        metavar="[SURVEY=]PATH",
        help="ONNX model; PATH alone judges every survey its policy declares (a model without a "
        "policy: ZTF only); SURVEY=PATH (ztf, lsst, wfst; repeatable) gives one survey its model "
        "(env RBC_MODEL_PATH, RBC_SURVEY_MODELS as JSON)",
    )
