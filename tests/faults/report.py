"""One JSON object per fault case: what went in, what came out, and what the service cost.

Each case fills a `CaseReport` and emits it whether the case passes, fails or times out, to
stdout and appended to `$RBC_FAULTS_OUT` (default `faults-results.jsonl` in the working
directory), so `scripts/test-faults.sh` can print the whole table after the run.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT_ENV = "RBC_FAULTS_OUT"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "out" / "faults" / "results.jsonl"


@dataclass
class CaseReport:
    """The counts of one case. lost: inputs with neither a scored record nor a dead letter;
    duplicated: scored records beyond one per alert; exit_codes: of every service process
    the case ran, in order (None: still running when the case gave up on it)."""

    case: str
    inputs: int = 0
    scored: int = 0
    dead_lettered: int = 0
    lost: int = 0
    duplicated: int = 0
    peak_rss_mb: float = 0.0
    exit_codes: list[int | None] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> str:
        fields = {
            "case": self.case,
            "in": self.inputs,
            "scored": self.scored,
            "dead_lettered": self.dead_lettered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "peak_rss_mb": self.peak_rss_mb,
            "exit_codes": self.exit_codes,
            "notes": self.notes,
        }
        return json.dumps(fields, sort_keys=False, default=str)

    def emit(self) -> None:
        line = self.as_json()
        print(line, file=sys.__stdout__, flush=True)
        path = Path(os.environ.get(OUT_ENV) or DEFAULT_OUT)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:
            out.write(line + "\n")


@contextmanager
def reported(case: str) -> Iterator[CaseReport]:
    """A report emitted on leaving the block; an exception inside is noted, then re-raised."""
    report = CaseReport(case)
    try:
        yield report
    except BaseException as exc:
        report.notes["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
        raise
    finally:
        report.emit()


def check_targets(report: CaseReport, max_duplicates: int, max_rss_mb: float | None = None) -> None:
    """The targets of issue 19: nothing lost, duplicates bounded, no crash, memory bounded."""
    problems = []
    if report.lost:
        problems.append(f"{report.lost} lost")
    if report.duplicated > max_duplicates:
        problems.append(f"{report.duplicated} duplicates > {max_duplicates}")
    if max_rss_mb is not None and report.peak_rss_mb >= max_rss_mb:
        problems.append(f"peak RSS {report.peak_rss_mb} MB >= {max_rss_mb} MB")
    if report.notes.get("stream_stopped"):
        problems.append(f"stream stopped: {report.notes['stream_stopped']}")
    assert not problems, f"{report.case}: {'; '.join(problems)}\n{report.as_json()}"
