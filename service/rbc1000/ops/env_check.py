"""Mistakes in the environment and the config file that would otherwise pass without a word.

pydantic-settings ignores an `RBC_*` variable that matches no field, so a typo
(`RBC_LABELING_TOPIC`, `RBC_BATCH_SIZ`) silently leaves the default in charge. Every command
that reads settings therefore refuses a variable with the project's prefix that no settings
model of any command knows, and names the closest setting. Variables of the project's scripts
and tests are not settings and are let through.

One environment may drive several commands, some from components this installation lacks:
the service image has no `train` extra, yet its environment may also carry the retraining
job's `RBC_LABELS_URL`. Those components' settings are therefore known by name
(`OPTIONAL_SETTINGS`), without importing them.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Mapping
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError as SourceError

from rbc1000.ops.cli_flags import UsageError

PREFIX = "RBC_"
# Read by deploy/ and scripts/, not by the settings models.
SCRIPT_VARIABLES = frozenset(
    {
        "RBC_CONFIG_FILE",
        "RBC_KAFKA_WORK",
        "RBC_KAFKA_HEAP",
        "RBC_KAFKA_START_TIMEOUT",
        "RBC_POSTGRES_WORK",
        "RBC_REGISTRY_WORK",
    }
)
SCRIPT_PREFIXES = ("RBC_TEST_", "RBC_FUZZ_", "RBC_BENCH_")
# The field names of settings models in optional extras, keyed by `module:class`. Plain names,
# so the check never imports an extra that may be missing; tests/unit/ops/test_env_check.py
# keeps each set equal to its model's fields wherever the extra is installed. Flat fields only:
# a nested model here would need its `__` names listed too.
OPTIONAL_SETTINGS: dict[str, frozenset[str]] = {
    "rbc1000.train.retrain.settings:RetrainSettings": frozenset(
        {
            "auc_tolerance",
            "band_purity",
            "bootstrap",
            "ece_tolerance",
            "eval_fraction",
            "every",
            "extra_datasets",
            "labels_dir",
            "labels_password",
            "labels_url",
            "labels_username",
            "log_format",
            "log_level",
            "min_eval",
            "min_train",
            "model_registry",
            "run_config",
            "seed",
            "threads",
            "unlabelled_alerts",
        }
    ),
}


def optional_variables() -> set[str]:
    """The `RBC_*` names of every optional component's settings (`OPTIONAL_SETTINGS`)."""
    return {f"{PREFIX}{name.upper()}" for names in OPTIONAL_SETTINGS.values() for name in names}


def _nested(annotation: Any) -> type[BaseModel] | None:
    for arg in (annotation, *get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def env_names(model: type[BaseModel], prefix: str = PREFIX) -> tuple[set[str], set[str]]:
    """(variable names, prefixes of free-form dict entries) that `model` reads."""
    names, open_prefixes = set(), set()
    for field_name, field in model.model_fields.items():
        name = f"{prefix}{field_name.upper()}"
        names.add(name)
        nested = _nested(field.annotation)
        if nested is not None:
            sub_names, sub_open = env_names(nested, f"{name}__")
            names |= sub_names
            open_prefixes |= sub_open
        elif get_origin(field.annotation) in (dict, typing.Dict):  # noqa: UP006
            open_prefixes.add(f"{name}__")
    return names, open_prefixes


def unknown_variables(environ: Mapping[str, str], models: Iterable[type[BaseModel]]) -> list[str]:
    """One problem line per `RBC_*` variable that no model reads, with the closest setting."""
    known: set[str] = set(SCRIPT_VARIABLES) | optional_variables()
    open_prefixes: set[str] = set(SCRIPT_PREFIXES)
    for model in models:
        names, prefixes = env_names(model)
        known |= names
        open_prefixes |= prefixes
    problems = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(PREFIX) or upper in known or upper.startswith(tuple(open_prefixes)):
            continue
        close = difflib.get_close_matches(upper, sorted(known - SCRIPT_VARIABLES), n=1, cutoff=0.6)
        hint = f": did you mean {close[0]}?" if close else ": no setting has this name (see --help)"
        problems.append(f"unknown environment variable {variable}{hint}")
    return problems


def check_environment(environ: Mapping[str, str], models: Iterable[type[BaseModel]]) -> None:
    """Raise UsageError when an `RBC_*` variable matches no setting of any command."""
    problems = unknown_variables(environ, models)
    if problems:
        raise UsageError(*problems)


def config_file_problem(exc: Exception) -> str | None:
    """One line for a config file or variable that does not parse; None for other errors."""
    if isinstance(exc, yaml.YAMLError):
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        name = getattr(mark, "name", "") or "the config file"
        return f"config file {name} is not valid YAML{where}: {what}"
    if isinstance(exc, SourceError):
        return f"{exc} (a nested setting given as one variable must be valid JSON)"
    return None


def describe_errors(exc: Exception) -> str:
    """One line per validation problem, without the offending values (they may be secrets)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    return "invalid settings:\n" + "\n".join(f"  {line}" for line in problem_lines(exc))


def problem_lines(exc: ValidationError) -> list[str]:
    """`field.path: what is wrong` per problem; inputs are left out, they may be secrets."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        lines.append(f"{loc}: {str(err.get('msg', '')).removeprefix('Value error, ')}")
    return lines
