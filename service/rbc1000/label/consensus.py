"""When the votes on an alert settle it: N labellers agreeing, or an admin's verdict.

Pure functions over the votes that stand (not undone), so the rule is tested without a
database. `Outcome.status` is `labelled` (a consensus label), `review` (labellers disagree,
or enough of them were unsure: a human with the admin role decides) or `open` (waiting for
more votes). A skip is a labeller passing the alert on; it counts for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

VoteLabel = Literal["real", "bogus", "unsure", "skip"]
VOTE_LABELS: tuple[VoteLabel, ...] = ("real", "bogus", "unsure", "skip")
FINAL_LABELS = ("real", "bogus")
Status = Literal["open", "review", "labelled"]


@dataclass(frozen=True, slots=True)
class CastVote:
    """One standing vote: who, which label, when, and whether it is an admin's verdict."""

    username: str
    label: str
    voted_at: int
    resolution: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where an alert stands after its votes."""

    status: Status
    label: str | None = None
    labellers: tuple[str, ...] = ()
    labelled_at: int | None = None


def settle(votes: Sequence[CastVote], n: int) -> Outcome:
    """The outcome of the standing votes on one alert, for a consensus of `n` labellers."""
    verdicts = [v for v in votes if v.resolution and v.label in FINAL_LABELS]
    if verdicts:
        last = max(verdicts, key=lambda v: v.voted_at)
        return Outcome("labelled", last.label, (last.username,), last.voted_at)
    by_label = {label: [v for v in votes if v.label == label] for label in ("real", "bogus", "unsure")}
    real, bogus, unsure = by_label["real"], by_label["bogus"], by_label["unsure"]
    if real and bogus:
        return Outcome("review")
    for agreeing in (real, bogus):
        if len(agreeing) >= n:
            return Outcome(
                "labelled",
                agreeing[0].label,
                tuple(v.username for v in agreeing),
                max(v.voted_at for v in agreeing),
            )
    if unsure and len(real) + len(bogus) + len(unsure) >= n:
        return Outcome("review")
    return Outcome("open")
