"""One convention for `rbc` and `rbc-train`: shared flag names, `--version`, logging flags, and
one error path (one line per problem on stderr, exit 2; a missing extra named, no traceback)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rbc1000.cli.dispatch import CommandParser, configure_command, package_version
from rbc1000.cli.main import COMMANDS
from rbc1000.cli.main import main as rbc
from rbc1000.train.cli.main import COMMANDS as TRAIN_COMMANDS
from rbc1000.train.cli.main import main as rbc_train

KAFKA_COMMANDS = ("serve", "replay", "peek")
# Arguments that get each command past argparse to its settings, without a broker or files.
VALID_ARGS = {"serve": ["--topics", "in"], "replay": ["x.avro", "--topic", "t"], "peek": []}


@pytest.fixture(autouse=True)
def clean_env_and_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("RBC_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _options(module: str) -> dict[str, list[str]]:
    """dest -> option strings of one sub-command, as the dispatcher builds it."""
    parser = CommandParser(prog="t")
    configure_command(parser, module)
    return {a.dest: list(a.option_strings) for a in parser._actions if a.option_strings}


def test_the_same_setting_has_the_same_flag_in_every_command() -> None:
    modules = {n: m for n, (m, _) in COMMANDS.items() if n != "label"}
    modules["rbc-train run"] = TRAIN_COMMANDS["run"][0]
    modules["rbc-train dataset-info"] = TRAIN_COMMANDS["dataset-info"][0]
    seen: dict[str, tuple[str, list[str]]] = {}
    for command, module in modules.items():
        options = _options(module)
        assert "--log-level" in options["log_level"] and "--log-format" in options["log_format"], command
        for dest, flags in options.items():
            first = seen.setdefault(dest, (command, flags))
            assert flags == first[1], f"{dest}: {command} {flags} but {first[0]} {first[1]}"
    serve, score = _options(COMMANDS["serve"][0]), _options(COMMANDS["score"][0])
    for dest in ("model_path", "provider", "intra_op_threads", "batch_size", "include_packet"):
        assert serve[dest] == score[dest]
    assert score["include_packet"] == ["--packet", "--no-packet"]
    for command in KAFKA_COMMANDS:
        options = _options(COMMANDS[command][0])
        assert options["kafka.bootstrap_servers"] == ["--bootstrap"]
        assert options["kafka.extra"] == ["--kafka-option"]
        assert options["kafka.security_protocol"] == ["--kafka-security-protocol"]
        assert options["kafka.sasl_username"] == ["--kafka-sasl-username"]


@pytest.mark.parametrize("main, prog", [(rbc, "rbc"), (rbc_train, "rbc-train")])
def test_version(main: Any, prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"{prog} {package_version()}"


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert rbc(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == "", captured
    assert lines[0].startswith(f"rbc {argv[0]}: ")
    return lines[0]


@pytest.mark.parametrize("command", KAFKA_COMMANDS)
def test_malformed_kafka_option_is_a_usage_error(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line_exit_2([command, *VALID_ARGS[command], "--kafka-option", "oops"], capsys)
    assert "--kafka-option" in line and "KEY=VALUE" in line


@pytest.mark.parametrize(
    "command, bad, field",
    [
        ("serve", ["--batch-size", "0"], "batch_size"),
        ("replay", ["--rate", "-1"], "rate_per_s"),
        ("peek", ["--max", "0"], "max_messages"),
    ],
)
def test_bad_setting_is_one_line_on_stderr(
    command: str, bad: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert field in _one_line_exit_2([command, *VALID_ARGS[command], *bad], capsys)


def test_settings_problems_never_show_secret_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RBC_KAFKA__SASL_PASSWORD", "topsecret")
    assert rbc(["peek", "--kafka-security-protocol", "SASL_SSL"]) == 2
    err = capsys.readouterr().err
    assert "sasl_username" in err and "topsecret" not in err
    assert all(line.startswith("rbc peek: ") for line in err.strip().splitlines())


def test_unknown_flag_and_missing_command_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_exit_2(["serve", "--threads", "1"], capsys)
    assert rbc([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_missing_extra_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = importlib.import_module

    def import_module(name: str) -> Any:
        if name == TRAIN_COMMANDS["compare"][0]:
            raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")
        return real_import(name)

    monkeypatch.setattr("rbc1000.cli.dispatch.importlib", SimpleNamespace(import_module=import_module))
    assert rbc_train(["compare", "--help"]) == 2
    assert capsys.readouterr().err.strip() == (
        "rbc-train compare needs the 'train' extra: pip install 'rbc1000[train]'"
    )


def test_an_unknown_missing_module_still_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def import_module(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'nothing_like_it'", name="nothing_like_it")

    monkeypatch.setattr("rbc1000.cli.dispatch.importlib", SimpleNamespace(import_module=import_module))
    with pytest.raises(ModuleNotFoundError):
        rbc(["inspect", "x"])


def test_log_format_json_gives_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # serve logs its start and then refuses the missing model before it touches Kafka.
    missing = tmp_path / "absent.onnx"
    assert rbc(["serve", "--topics", "in", "--model", str(missing), "--log-format", "json"]) == 2
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    events = [e["event"] for e in entries]
    assert events == ["serve_starting", "model_refused"]
    assert entries[1]["level"] == "ERROR" and entries[1]["path"] == str(missing)


def test_commands_without_settings_take_the_logging_flags() -> None:
    parser = argparse.ArgumentParser()
    configure_command(parser, COMMANDS["inspect"][0])
    args = parser.parse_args(["x", "--log-level", "DEBUG", "--log-format", "json"])
    assert (args.log_level, args.log_format) == ("DEBUG", "json")
