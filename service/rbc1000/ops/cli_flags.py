"""Command-line flags generated from a pydantic settings model, and read back into its shape.

A setting is defined once, as a field with a description and a default; its flag, its help
text (description, default, environment variable) and its place in the flags dict all come
from that field, so `rbc` and `rbc-train` cannot drift apart from their settings.

Flag names are mechanical: `--field-name`, a nested model's fields as `--<model>-<field>`
(`kafka.client_id` -> `--kafka-client-id`), a unit suffix dropped (`batch_max_wait_s` ->
`--batch-max-wait`, `rate_per_s` -> `--rate`; the help names the unit), except the few short
names in `SHORT_NAMES`, which mean the same thing in every command. `SecretStr` fields get no
flag: flags are visible in `ps`, so secrets come from the environment or the config file. For
the same reason a flag refuses a URL with a password in it, and a KEY=VALUE flag whose field
is marked `SecretKeys` refuses those keys (`--kafka-option sasl.password=...`): a usage error
that names the variable to use instead, never the value.
"""

from __future__ import annotations

import argparse
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

# One vocabulary across commands: these settings keep the short flags users already type.
SHORT_NAMES: dict[str, str] = {
    "input_topics": "topics",
    "group_id": "group",
    "model_path": "model",
    "auto_offset_reset": "offset-reset",
    "include_packet": "packet",
    "max_messages": "max",
    "kafka.bootstrap_servers": "bootstrap",
    "kafka.extra": "kafka-option",
}
_UNIT_SUFFIXES = ("_per_s", "_s")
_URL_WITH_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]*@")


@dataclass(frozen=True, slots=True)
class SecretKeys:
    """Marks a KEY=VALUE setting (`Annotated[dict[str, str], SecretKeys(...)]`) whose listed
    keys are secrets: refused as flags. `fields` maps each key to the sibling setting that
    takes it from the environment or the config file."""

    fields: Mapping[str, str]


class UsageError(ValueError):
    """A usage or configuration error: the command line prints `problems` and exits 2."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def flag_name(path: str) -> str:
    """The flag (without `--`) of a dotted field path such as `kafka.sasl_username`."""
    if path in SHORT_NAMES:
        return SHORT_NAMES[path]
    name = path
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace(".", "-").replace("_", "-")


def key_value(text: str) -> tuple[str, str]:
    """argparse type of a `KEY=VALUE` flag; a malformed one is a usage error."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"needs KEY=VALUE, got {text!r}")
    return key.strip(), value


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return annotation


def _is_secret(annotation: Any) -> bool:
    return _strip_optional(annotation) is SecretStr


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    inner = _strip_optional(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _argparse_kind(annotation: Any) -> dict[str, Any]:
    """argparse keyword arguments for a (non-nested, non-secret) field annotation."""
    inner = _strip_optional(annotation)
    origin = get_origin(inner)
    if origin is Literal:
        return {"choices": [str(c) for c in get_args(inner)]}
    if origin in (list, typing.List):  # noqa: UP006
        return {"nargs": "+"}
    if origin in (dict, typing.Dict):  # noqa: UP006
        return {"action": "append", "type": key_value, "metavar": "KEY=VALUE"}
    if inner is bool:
        return {"action": argparse.BooleanOptionalAction}
    if inner in (int, float, Path):
        return {"type": inner}
    return {}


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    default = field.get_default(call_default_factory=True)
    return "unset" if default is None or default == [] or default == {} else str(default)


def _help(field: FieldInfo, env: str | None) -> str:
    text = f"{field.description or ''} (default: {_default_text(field)}".lstrip()
    text += f"; env {env})" if env else ")"
    return text.replace("%", "%%")


def _env_prefix(model: type[BaseModel]) -> str | None:
    if issubclass(model, BaseSettings):
        return str(model.model_config.get("env_prefix") or "")
    return None


def add_settings_flags(
    parser: argparse.ArgumentParser,
    model: type[BaseModel],
    title: str = "settings",
    config_help: str | None = None,
) -> None:
    """Add one flag per field of `model` (nested models and secrets as the module says).

    Every flag defaults to None, so `given_flags` returns only what was typed and the
    environment, the config file and the model's own defaults stay in charge of the rest.
    A flag already on the parser (added by the command itself) is left as it is.
    """
    if config_help is not None:
        parser.add_argument("--config", type=Path, help=config_help)
    _add_fields(parser, model, parser.add_argument_group(title), "", _env_prefix(model))


def _add_fields(
    parser: argparse.ArgumentParser,
    model: type[BaseModel],
    group: argparse._ArgumentGroup,
    prefix: str,
    env: str | None,
) -> None:
    secrets = []
    for name, field in model.model_fields.items():
        path, env_name = f"{prefix}{name}", None if env is None else f"{env}{name.upper()}"
        nested = _nested_model(field.annotation)
        if nested is not None:
            sub_env = None if env_name is None else f"{env_name}__"
            sub = parser.add_argument_group(f"{name} settings" + (f" ({sub_env}*)" if sub_env else ""))
            _add_fields(parser, nested, sub, f"{path}.", sub_env)
            continue
        if _is_secret(field.annotation):
            secrets.append(env_name or path)
            continue
        flag = f"--{flag_name(path)}"
        if flag in parser._option_string_actions:
            continue
        kind = _refusing_secrets(
            {"metavar": name.upper(), **_argparse_kind(field.annotation)}, field, name, prefix, env
        )
        if "choices" in kind or kind.get("action") is argparse.BooleanOptionalAction:
            del kind["metavar"]
        group.add_argument(flag, dest=path, default=None, help=_help(field, env_name), **kind)
    if secrets:
        group.description = (
            f"secrets have no flag (flags show in `ps`): {', '.join(secrets)} from the "
            "environment or the --config file"
        )


def _refusing_secrets(
    kind: dict[str, Any], field: FieldInfo, name: str, prefix: str, env: str | None
) -> dict[str, Any]:
    """`kind` with a `type` that refuses a password in a URL and the field's `SecretKeys`."""
    if "action" in kind and kind["action"] is argparse.BooleanOptionalAction:
        return kind
    parse: Callable[[str], Any] = kind.get("type", str)
    keys: Mapping[str, str] = next((m.fields for m in field.metadata if isinstance(m, SecretKeys)), {})

    def checked(text: str) -> Any:
        if _URL_WITH_PASSWORD.search(text):
            where = f"{env}{name.upper()} or " if env else ""
            raise argparse.ArgumentTypeError(
                f"a URL with a password is refused on the command line (flags show in `ps`); "
                f"give it in {where}the --config file"
            )
        value = parse(text)
        if isinstance(value, tuple) and value[0] in keys:
            secret = keys[value[0]]
            where = f"{env}{secret.upper()} in the environment or " if env else ""
            raise argparse.ArgumentTypeError(
                f"{value[0]} is a secret and flags show in `ps`: set {where}"
                f"{prefix}{secret} in the --config file"
            )
        return value

    checked.__name__ = getattr(parse, "__name__", "value")  # argparse names the type in errors
    return {**kind, "type": checked}


def given_flags(args: argparse.Namespace, model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """The flags actually given, shaped like `model` (nested models as nested dicts)."""
    flags: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        nested = _nested_model(field.annotation)
        if nested is not None:
            value: Any = given_flags(args, nested, f"{path}.") or None
        else:
            value = getattr(args, path, None)
            if value is not None and get_origin(_strip_optional(field.annotation)) in (dict, typing.Dict):  # noqa: UP006
                value = dict(value)
        if value is not None:
            flags[name] = value
    return flags
