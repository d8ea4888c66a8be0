"""The run loop's counts since start."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StreamStats:
    """Counts since start, logged periodically and returned by `run`."""

    messages: int = 0
    scored: int = 0
    labelling: int = 0
    dead_letters: int = 0
    batches: int = 0
    commits: int = 0

    def line(self) -> str:
        return " ".join(f"{name}={getattr(self, name)}" for name in self.__slots__)
