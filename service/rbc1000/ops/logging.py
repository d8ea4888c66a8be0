"""The one logging setup of `rbc` and `rbc-train`: `key=value` text lines or JSON lines, on stderr.

Messages are written as `event key=value ...` (STYLE: logs as `key=value`). The text format
prints them as they are behind the time, level and logger; the JSON format writes one object
per line with `time`, `level`, `logger`, `message`, `event` and the message's `key=value` pairs
as fields of their own, for log collectors that index fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
_RESERVED = frozenset({"time", "level", "logger", "message", "event", "exception"})
# A value runs up to the next ` key=` so that `error=broker down` keeps its spaces.
_PAIR = re.compile(r"(?:^|\s)([A-Za-z_][\w.]*)=(.*?)(?=\s+[A-Za-z_][\w.]*=|$)", re.S)


class LogSettings(BaseModel):
    """How a command logs; every command of both command lines has these two settings."""

    log_level: LogLevel = Field(default="INFO", description="least severe log level shown")
    log_format: LogFormat = Field(
        default="text", description="text: key=value lines; json: one JSON object per line"
    )


def message_fields(message: str) -> dict[str, str]:
    """The `event` (first word, when it is not a pair) and the `key=value` pairs of a message."""
    fields: dict[str, str] = {}
    first, _, _ = message.partition(" ")
    if first and "=" not in first:
        fields["event"] = first
    for key, value in _PAIR.findall(message):
        fields[key if key not in _RESERVED else f"field.{key}"] = value
    return fields


def _utc_text_formatter() -> logging.Formatter:
    """key=value lines stamped in ISO-8601 UTC with a Z, like every other time the project writes."""
    return _UtcFormatter(TEXT_FORMAT)


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        return stamp.replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message and its pairs."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        entry.update(message_fields(message))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (test runners swap it), as logging's
    own last-resort handler does."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def setup_logging(level: LogLevel = "INFO", fmt: LogFormat = "text") -> None:
    """Send every log record at `level` or above to stderr in the chosen format.

    Calling it again replaces the handler it installed before (a command first sets up the
    flags' choice, then its settings' choice), and leaves any other handler alone.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else _utc_text_formatter())
    root.addHandler(handler)
    root.setLevel(level)
