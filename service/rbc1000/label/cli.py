"""`rbc label`: the labelling web app and its chores.

    rbc label serve                       the web app (+ ingest and labels publisher); SIGTERM:
                                          graceful stop, exit 0
    rbc label useradd NAME [--role admin] create an account
    rbc label passwd NAME                 set a new password (ends the account's sessions)
    rbc label userdel NAME [--reactivate] deactivate an account (its votes stay) or undo that
    rbc label import PATH...              labelling records from files (`rbc score --out X.avro`)
    rbc label export --out DIR            packets + labels file for `alerts:DIR/packets?labels=...`

Settings come from flags (one per setting, generated from `rbc1000.label.settings`),
`RBC_...` environment variables and `--config FILE`. Passwords never come from the command
line (it shows in `ps` and shell history): they are asked for twice on a terminal, or read
as one line from stdin otherwise (`--password-stdin` forces stdin).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from rbc1000.label.settings import LabelSettings, StoreSettings
from rbc1000.ops.cli_flags import UsageError, add_settings_flags, given_flags
from rbc1000.ops.logging import setup_logging
from rbc1000.ops.settings import CONFIG_HELP, settings_or_error

log = logging.getLogger("rbc1000.label")

# The settings model behind each action's flags; the serving actions need all of them.
SETTINGS_OF: dict[str, type[StoreSettings]] = {
    "serve": LabelSettings,
    "import": LabelSettings,
    "useradd": StoreSettings,
    "passwd": StoreSettings,
    "userdel": StoreSettings,
    "export": StoreSettings,
}
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def configure(parser: argparse.ArgumentParser) -> None:
    """One parser per action, each with the flags of its settings model and `--config`."""
    sub = parser.add_subparsers(dest="label_command", required=True, metavar="ACTION")
    actions = {
        "serve": "run the labelling web app",
        "useradd": "create an account",
        "passwd": "set an account's password (read from the terminal or stdin)",
        "userdel": "deactivate an account: no more logins, its votes are kept",
        "import": "store labelling records from files",
        "export": "write packets and a labels file",
    }
    parsers = {name: sub.add_parser(name, help=text, description=text) for name, text in actions.items()}
    for name in ("useradd", "passwd", "userdel"):
        parsers[name].add_argument("username")
    parsers["useradd"].add_argument("--role", choices=("labeller", "admin"), default="labeller")
    for name in ("useradd", "passwd"):
        parsers[name].add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin even on a terminal"
        )
    parsers["userdel"].add_argument(
        "--reactivate", action="store_true", help="let a deactivated account log in again"
    )
    parsers["import"].add_argument(
        "paths", nargs="+", type=Path, help="scored Avro files or Confluent-framed messages"
    )
    parsers["export"].add_argument("--out", type=Path, required=True, help="output directory")
    for name, sub_parser in parsers.items():
        add_settings_flags(sub_parser, SETTINGS_OF[name], config_help=CONFIG_HELP)


def read_password(username: str, from_stdin: bool) -> str:
    """The new password: one line of stdin when piped (or asked to), else asked twice on the tty."""
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(f"password for {username}: ")
    if getpass.getpass("again: ") != password:
        raise UsageError("the two passwords differ")
    return password


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve(settings: LabelSettings) -> int:
    import uvicorn

    from rbc1000.label.app import create_app
    from rbc1000.stream.registration import RegistrationError

    if settings.http_host not in _LOOPBACK:
        log.warning(
            "label_serve_public host=%s: put it behind HTTPS and set secure_cookies", settings.http_host
        )
    # uvicorn handles SIGTERM itself (stop serving, lifespan shutdown: the ingest closes, the
    # publisher flushes), then raises it again: this handler makes that a clean exit 0.
    try:
        app = create_app(settings)
    except RegistrationError as exc:
        log.error("label_serve_refused error=%s", exc)
        return 2
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        # uvicorn's own lines go through the root handler too, in the chosen log format.
        log_config=None,
    )
    return 0


def _account(settings: StoreSettings, args: argparse.Namespace) -> int:
    """useradd, passwd and userdel; a refused change is a usage error (exit 2)."""
    from rbc1000.label.auth import AccountError, add_user, change_password, set_active
    from rbc1000.label.store import Store

    store = Store.open(settings.database_url)
    name, action = args.username, args.label_command
    try:
        if action == "useradd":
            add_user(store, name, read_password(name, args.password_stdin), args.role)
            print(f"user {name} ({args.role}) created")
        elif action == "passwd":
            change_password(store, name, read_password(name, args.password_stdin))
            print(f"password of {name} changed; their sessions are ended")
        else:
            set_active(store, name, args.reactivate)
            print(f"user {name} {'reactivated' if args.reactivate else 'deactivated (votes kept)'}")
    except AccountError as exc:
        raise UsageError(str(exc)) from None
    finally:
        store.close()
    return 0


def _import(settings: LabelSettings, paths: list[Path]) -> int:
    from rbc1000.alerts.sources import expand_paths
    from rbc1000.label.ingest import Ingester
    from rbc1000.label.store import Store

    ingester = Ingester(
        Store.open(settings.database_url), settings.queue_threshold(), settings.max_packet_bytes
    )
    report = ingester.import_files(expand_paths(paths))
    print(json.dumps({"read": report.read, "stored": report.stored, "refused": report.refused}))
    return 0 if report.read else 1


def _export(settings: StoreSettings, out: Path) -> int:
    from rbc1000.label.export import export_labels
    from rbc1000.label.store import Store

    report = export_labels(Store.open(settings.database_url), out)
    summary = {"labels": report.labels, "skipped": dict(report.skipped), "dataset": report.dataset_spec(out)}
    print(json.dumps(summary))
    return 0


def run(args: argparse.Namespace) -> int:
    """Build the action's settings (a bad one: exit 2 through the dispatcher) and run it."""
    model = SETTINGS_OF[args.label_command]
    settings = settings_or_error(model, given_flags(args, model), args.config)
    setup_logging(settings.log_level, settings.log_format)
    if isinstance(settings, LabelSettings) and args.label_command == "serve":
        return _serve(settings)
    if isinstance(settings, LabelSettings):
        return _import(settings, args.paths)
    if args.label_command == "export":
        return _export(settings, args.out)
    return _account(settings, args)
