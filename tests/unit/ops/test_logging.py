"""The one logging setup: key=value text lines, or JSON lines with the pairs as fields."""

from __future__ import annotations

import json
import logging

import pytest

from rbc1000.ops.logging import message_fields, setup_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_format_writes_one_parseable_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "json")
    logging.getLogger("rbc.test").info("stream_stopped consumed=3 error=broker went away")
    logging.getLogger("rbc.test").debug("not shown")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("rbc.test").exception("serve_failed committed=finished_work_only")
    lines = capsys.readouterr().err.splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == 2
    first, second = entries
    assert {"time", "level", "logger", "message"} <= set(first)
    assert first["level"] == "INFO" and first["logger"] == "rbc.test"
    assert first["event"] == "stream_stopped" and first["consumed"] == "3"
    assert first["error"] == "broker went away"
    assert second["committed"] == "finished_work_only" and "RuntimeError: boom" in second["exception"]


def test_text_format_keeps_key_value_lines_and_setup_replaces_itself(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO", "json")
    setup_logging("WARNING", "text")
    logging.getLogger("rbc.test").warning("model_refused path=x")
    logging.getLogger("rbc.test").info("not shown")
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith(" level=WARNING logger=rbc.test model_refused path=x")


def test_pairs_never_overwrite_the_record_fields() -> None:
    assert message_fields("done level=9 a=1") == {"event": "done", "field.level": "9", "a": "1"}
