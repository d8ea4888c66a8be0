"""`rbc config show`: the effective settings of `rbc serve`, secrets masked, with each value's source.

Takes the same flags, `RBC_*` variables and `--config` file as `rbc serve` and prints one row
per setting: its dotted name, its value (`***` for a secret, `unset` for none) and where the
value came from: `flag`, `environment`, `file` or `default`. An unknown `RBC_*` variable or a
setting that does not validate is the same one-line error, exit 2, as `rbc serve` gives.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr

from rbc1000.cli.model_flag import add_model_flag
from rbc1000.ops.cli_flags import add_settings_flags, given_flags
from rbc1000.ops.settings import CONFIG_HELP, ServeSettings, settings_or_error


def configure(parser: argparse.ArgumentParser) -> None:
    """`show`, then the flags of `rbc serve`."""
    parser.add_argument("action", choices=["show"], help="show: print the effective settings")
    add_model_flag(parser)
    add_settings_flags(parser, ServeSettings, config_help=CONFIG_HELP)


def _leaves(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _has(tree: Mapping[str, Any], path: str) -> bool:
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _from_environment(path: str, environ: Mapping[str, str]) -> bool:
    parts = path.upper().split(".")
    names = {"RBC_" + "__".join(parts[: i + 1]) for i in range(len(parts))}
    return any(k.upper() in names or k.upper().startswith("RBC_" + "__".join(parts) + "__") for k in environ)


def source_of(
    path: str, flags: Mapping[str, Any], environ: Mapping[str, str], file: Mapping[str, Any]
) -> str:
    """Where a setting's value came from, by the precedence flags > environment > file > default."""
    if _has(flags, path):
        return "flag"
    if _from_environment(path, environ):
        return "environment"
    return "file" if _has(file, path) else "default"


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "***"
    if value is None:
        return "unset"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "unset"
    return str(value)


def run(args: argparse.Namespace) -> int:
    """Print `name value source`, one row per setting."""
    flags = given_flags(args, ServeSettings)
    settings = settings_or_error(ServeSettings, flags, args.config)
    config_file = args.config or (
        Path(os.environ["RBC_CONFIG_FILE"]) if os.environ.get("RBC_CONFIG_FILE") else None
    )
    file = (yaml.safe_load(config_file.read_text()) or {}) if config_file is not None else {}
    for path, value in _leaves(settings):
        print(f"{path} {_shown(value)} {source_of(path, flags, os.environ, file)}")
    return 0
