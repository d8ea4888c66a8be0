"""How a signal asks the run loop to stop: a flag, never an exception in the middle of a batch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StopFlag:
    """Set from a signal handler; the loop finishes the batch in hand, commits and returns.

    A second signal while draining raises KeyboardInterrupt: exit now, commit nothing more.
    """

    requested: bool = False

    def set(self, *_: object) -> None:
        if self.requested:
            raise KeyboardInterrupt("second stop signal: leaving without a final commit")
        self.requested = True
