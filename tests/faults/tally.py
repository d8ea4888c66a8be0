"""Counting a case's outcome from the topics themselves, not from what the service says.

Every output carries `rbc.source.partition` and `rbc.source.offset`, so each input message
is matched with its scored records and dead letters: lost inputs have neither, and a scored
record seen twice for the same input and key is a duplicate. Outputs are read as a downstream
consumer reads them by default, with `isolation.level=read_committed`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tests.faults.report import CaseReport
from tests.integration.ops_support import header
from tests.integration.stream_helpers import input_offsets, read_to_end
from tests.integration.stream_setup import StreamTopics

Offset = tuple[int, int]


def source(message: object) -> Offset:
    return (
        int(header(message, "rbc.source.partition") or -1),
        int(header(message, "rbc.source.offset") or -1),
    )


@dataclass
class Tally:
    inputs: set[Offset]
    scored: Counter[Offset] = field(default_factory=Counter)
    dead_reasons: dict[Offset, list[str]] = field(default_factory=dict)
    scored_records: int = 0
    dead_letters: int = 0
    duplicated: int = 0

    @property
    def lost(self) -> set[Offset]:
        return self.inputs - set(self.scored) - set(self.dead_reasons)

    def into(self, report: CaseReport) -> None:
        report.inputs = len(self.inputs)
        report.scored = self.scored_records
        report.dead_lettered = self.dead_letters
        report.lost = len(self.lost)
        report.duplicated = self.duplicated
        if self.lost:
            report.notes["lost_offsets"] = sorted(self.lost)[:20]


def tally(bootstrap: str, topics: StreamTopics) -> Tally:
    """Read the input, scored and dead-letter topics of `topics` to their ends and match them."""
    result = Tally(input_offsets(bootstrap, topics.input))
    per_key: Counter[tuple[int, int, bytes]] = Counter()
    for message in read_to_end(bootstrap, topics.scored):
        part, offset = source(message)
        result.scored[(part, offset)] += 1
        per_key[(part, offset, bytes(message.key() or b""))] += 1
        result.scored_records += 1
    result.duplicated = sum(n - 1 for n in per_key.values())
    for message in read_to_end(bootstrap, topics.dead):
        result.dead_reasons.setdefault(source(message), []).append(header(message, "rbc.error.reason") or "?")
        result.dead_letters += 1
    return result
