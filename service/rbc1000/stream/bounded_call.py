"""Calls into librdkafka that must end within a time bound even when the broker never answers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def bounded(call: Callable[[], Any], timeout_s: float, name: str) -> Any:
    """`call()` on a daemon thread, its result or exception; TimeoutError when it has not
    returned within `timeout_s` (the thread is left behind, and cannot keep the process alive)."""
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"{name} did not return within {timeout_s} s")
    if failure:
        raise failure[0]
    return outcome[0]
