"""`--log-format json` gives the same keys in every command: `rbc score` and `rbc-train run`
(one light, one heavy command of the two command lines) write only JSON objects on stderr,
each with time (UTC, `Z`), level, logger, message and event, and the message's pairs as fields."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rbc1000.cli.main import main as rbc
from rbc1000.train.cli.main import main as rbc_train
from tests.support.model_factory import write_tiny_model
from tests.unit.train.test_stages import TINY, write_braai

KEYS = {"time", "level", "logger", "message", "event"}


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


def json_entries(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as a JSON object (a line that is not one fails the test)."""
    entries = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    for entry in entries:
        assert set(entry) >= KEYS, entry
        assert entry["time"].endswith("Z") and entry["logger"].startswith("rbc1000."), entry
        assert entry["message"].startswith(entry["event"]), entry
    return entries


def test_score_and_train_log_the_same_keys(
    tmp_path: Path, vendored_alerts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_tiny_model(tmp_path / "tiny.onnx")
    out = tmp_path / "scored.avro"
    argv = ["score", str(vendored_alerts), "--model", str(model), "--out", str(out), "--gallery", "0"]
    assert rbc([*argv, "--log-format", "json"]) == 0
    score = {e["event"]: e for e in json_entries(capsys.readouterr().err)}
    assert score["model_loaded"]["path"] == str(model)

    data = write_braai(tmp_path)
    argv = ["run", "--datasets", str(data), "--run-dir", str(tmp_path / "run"), *TINY]
    assert rbc_train([*argv, "--log-format", "json"]) == 0
    train = json_entries(capsys.readouterr().err)
    assert train[0]["event"] == "run_started"
    assert [e["stage"] for e in train if e["event"] == "stage_done"] == ["its", "als", "ssls1", "ssls2"]
    assert train[-1]["event"] == "run_finished" and train[-1]["stages"] == "4"
