"""At most so many dead letters per input message: one hostile message must not flood the
dead-letter topic.

A container may legally hold thousands of records. When more than
`max_dead_letters_per_message` of one message's records fail, each would be dead-lettered
with a copy of the whole message, so a 1 MB container of 10,000 broken records would write
10 GB. Past the cap, that message's per-record dead letters are replaced by one
`limit_exceeded` dead letter that names the count and the first failure; its scored records
are kept. The message bytes are still in that one dead letter, so nothing is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

from rbc1000.model.decisions import DeadLetter, Outcome
from rbc1000.reasons import Reason
from rbc1000.stream.decode_stage import Record


def capped(
    records: Sequence[Record], outcomes: Sequence[Outcome], cap: int
) -> Iterator[tuple[Record, Outcome]]:
    """The (record, outcome) pairs to produce, with each over-cap message's failures as one."""
    failed = Counter(
        id(r.message) for r, o in zip(records, outcomes, strict=True) if isinstance(o, DeadLetter)
    )
    collapsed: set[int] = set()
    for record, outcome in zip(records, outcomes, strict=True):
        key = id(record.message)
        if not isinstance(outcome, DeadLetter) or failed[key] <= cap:
            yield record, outcome
        elif key not in collapsed:
            collapsed.add(key)
            detail = (
                f"{failed[key]} records of this message failed, more than the cap "
                f"max_dead_letters_per_message={cap} (RBC_MAX_DEAD_LETTERS_PER_MESSAGE); the "
                f"first at index {record.index}: {outcome.reason}: {outcome.detail}"
            )
            yield record, DeadLetter(Reason.LIMIT_EXCEEDED, detail, outcome.index)
