"""A tiny dispatcher for command-line tools made of lazily imported sub-command modules.

Each sub-command module exposes `configure(parser)` and `run(args) -> int`. Only the module
of the command being run is imported, so a light command never pays for torch or Kafka.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys


def dispatch(
    prog: str, description: str, commands: dict[str, tuple[str, str]], argv: list[str] | None = None
) -> int:
    """Parse `argv` (default: sys.argv), run the chosen sub-command and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv if a in commands), None)
    for name, (module, help_text) in commands.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:
            importlib.import_module(module).configure(cmd)
    args = parser.parse_args(argv)
    try:
        return int(importlib.import_module(commands[args.command][0]).run(args))
    except BrokenPipeError:
        # The reader went away (`rbc inspect ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
