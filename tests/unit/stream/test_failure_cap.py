"""One message's failures past the cap become one dead letter; other messages are untouched."""

from __future__ import annotations

from rbc1000.alerts.alert import DecodeError, DecodeFailure
from rbc1000.model.decisions import DeadLetter, Outcome
from rbc1000.reasons import Reason
from rbc1000.stream.decode_stage import Record
from rbc1000.stream.failure_cap import capped
from rbc1000.stream.kafka_io import Message


def _failures(message: Message, n: int) -> tuple[list[Record], list[Outcome]]:
    records = [Record(message, i, DecodeFailure(i, DecodeError(Reason.BAD_AVRO, "bad"))) for i in range(n)]
    outcomes: list[Outcome] = [DeadLetter(Reason.BAD_AVRO, f"record {i}", i) for i in range(n)]
    return records, outcomes


def test_a_flood_of_failed_records_is_one_dead_letter_and_other_messages_keep_theirs() -> None:
    flood = Message("in", 0, 1, None, b"x" * 10)
    small = Message("in", 0, 2, None, b"y")
    records_a, outcomes_a = _failures(flood, 250)
    records_b, outcomes_b = _failures(small, 3)
    out = list(capped(records_a + records_b, outcomes_a + outcomes_b, cap=100))
    from_flood = [o for r, o in out if r.message is flood]
    assert len(from_flood) == 1
    (letter,) = from_flood
    assert isinstance(letter, DeadLetter) and letter.reason == Reason.LIMIT_EXCEEDED
    assert "250 records" in letter.detail and "bad_avro" in letter.detail
    assert [o for r, o in out if r.message is small] == outcomes_b


def test_at_the_cap_every_failure_keeps_its_own_dead_letter() -> None:
    message = Message("in", 0, 1, None, b"x")
    records, outcomes = _failures(message, 100)
    assert [o for _, o in capped(records, outcomes, cap=100)] == outcomes
