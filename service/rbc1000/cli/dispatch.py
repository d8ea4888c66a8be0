"""The one dispatcher of `rbc` and `rbc-train`: lazily imported sub-commands, one error path.

Each sub-command module exposes `configure(parser)` and `run(args) -> int`. Only the module
of the command being run is imported, so a light command never pays for torch or Kafka.

What every command shares lives here: `--version`, `--log-level` and `--log-format` (the
command's own settings may define them too, with their environment variables), and the
error path: a usage or configuration error (argparse, `UsageError`, `SettingsError`) prints
`<prog> <command>: <problem>` on stderr, one line per problem, and exits 2; a command whose
optional dependencies are missing names the extra to install and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn

from rbc1000.ops.cli_flags import UsageError, add_settings_flags
from rbc1000.ops.logging import LogSettings, setup_logging

# Top-level modules of the optional extras in pyproject.toml.
EXTRA_OF_MODULE: dict[str, str] = {
    **dict.fromkeys(("torch", "torchvision", "onnxscript", "sklearn"), "train"),
    **dict.fromkeys(("matplotlib", "astropy"), "viz"),
    **dict.fromkeys(
        ("starlette", "uvicorn", "jinja2", "multipart", "sqlalchemy", "psycopg", "argon2"), "label"
    ),
}


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors reach the one error path instead of exiting itself."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def package_version() -> str:
    """The installed version of rbc1000 ("unknown" when run from a bare source tree)."""
    try:
        return version("rbc1000")
    except PackageNotFoundError:
        return "unknown"


def dispatch(
    prog: str, description: str, commands: dict[str, tuple[str, str]], argv: list[str] | None = None
) -> int:
    """Parse `argv` (default: sys.argv), run the chosen sub-command and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    wanted = next((a for a in argv if a in commands), None)
    where = f"{prog} {wanted}" if wanted else prog
    try:
        args = _parser(prog, description, commands, wanted).parse_args(argv)
        setup_logging(args.log_level or "INFO", args.log_format or "text")
        return int(importlib.import_module(commands[args.command][0]).run(args))
    except UsageError as exc:
        for problem in exc.problems:
            print(f"{where}: {problem}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF_MODULE.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"{where} needs the '{extra}' extra: pip install 'rbc1000[{extra}]'", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`rbc inspect ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


def _parser(
    prog: str, description: str, commands: dict[str, tuple[str, str]], wanted: str | None
) -> CommandParser:
    """The parser of `prog`, with the flags of the `wanted` command only (its module imported)."""
    parser = CommandParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in commands.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:
            configure_command(cmd, module)
    return parser


def configure_command(parser: argparse.ArgumentParser, module: str) -> None:
    """The flags of one sub-command: its module's own, then the logging flags it lacks."""
    importlib.import_module(module).configure(parser)
    add_settings_flags(parser, LogSettings, title="logging")
