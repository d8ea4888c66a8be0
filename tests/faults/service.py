"""`rbc serve` under fault: each process RSS-watched, restarted the way a supervisor would.

A case owns one `Supervised` per consumer-group member. Every process it starts is the real
command (`tests.integration.ops_support.ServeProcess`) with the test settings of
`tests.integration.stream_setup` plus a short flush timeout, so an outage "longer than the
flush timeout" takes seconds. The exit status of each process is kept for the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from tests.faults.rss import RssWatch
from tests.integration.ops_support import ServeProcess, wait_for
from tests.integration.stream_helpers import high_watermarks
from tests.integration.stream_setup import StreamTopics
from tests.integration.stream_setup import serve_env as stream_env

FLUSH_TIMEOUT_S = 5.0
READY_TIMEOUT_S = 90.0


def serve_env(
    bootstrap: str, topics: StreamTopics, model: Path, batch_size: int, extra: dict[str, str]
) -> dict[str, str]:
    """The RBC_ variables of one member (`stream_setup.serve_env`) with the short flush
    timeout; `extra` overrides or adds."""
    return stream_env(bootstrap, topics, model, batch_size, RBC_FLUSH_TIMEOUT_S=str(FLUSH_TIMEOUT_S), **extra)


def committed(bootstrap: str, topics: StreamTopics) -> dict[int, int]:
    """The group's committed input offsets. read_uncommitted: a read_committed client asks for
    stable offsets only and waits while a transaction of `--exactly-once` is open."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": topics.group, "isolation.level": "read_uncommitted"}
    )
    try:
        parts = [TopicPartition(topics.input, p) for p in high_watermarks(bootstrap, topics.input)]
        return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
    finally:
        consumer.close()


def caught_up(bootstrap: str, topics: StreamTopics) -> bool:
    """The group has committed every input message; False while the broker does not answer."""
    try:
        return committed(bootstrap, topics) == high_watermarks(bootstrap, topics.input)
    except KafkaException:
        return False


def exactly_once_env(instance: str) -> dict[str, str]:
    """`--exactly-once` as RBC_ variables: one transactional instance, the same across restarts,
    so each restart fences the killed run and aborts the transaction it left open."""
    return {"RBC_EXACTLY_ONCE": "true", "RBC_INSTANCE_ID": instance}


class Supervised:
    """The successive `rbc serve` processes of one group member."""

    def __init__(self, name: str, work: Path, env: dict[str, str], args: list[str] | None = None) -> None:
        self.name = name
        self.work = work
        self.env = env
        self.args = args or []
        self.runs: list[tuple[ServeProcess, RssWatch]] = []

    @property
    def current(self) -> ServeProcess:
        return self.runs[-1][0]

    def start(self, wait_ready: bool = True) -> ServeProcess:
        serve = ServeProcess(self.work / f"{self.name}-{len(self.runs)}.log", dict(self.env), self.args)
        self.runs.append((serve, RssWatch(serve.proc.pid)))
        if wait_ready:
            wait_for(
                lambda: not serve.alive() or serve.readyz()[0] == 200,
                READY_TIMEOUT_S,
                f"{self.name} ready (or exited)",
            )
        return serve

    def running(self) -> bool:
        return bool(self.runs) and self.current.alive()

    def restart_if_exited(self, max_starts: int) -> bool:
        """Start a new process if the last one exited; False when `max_starts` are used up."""
        if self.running():
            return True
        if len(self.runs) >= max_starts:
            return False
        self.start(wait_ready=False)
        return True

    def stop(self) -> None:
        """SIGTERM the running process (drain and commit), SIGKILL after 60 s."""
        if self.runs:
            self.current.stop()
        for serve, watch in self.runs:
            serve.kill()
            watch.close()

    def exit_codes(self) -> list[int | None]:
        return [serve.proc.returncode for serve, _ in self.runs]

    def peak_mb(self) -> float:
        return round(max((watch.peak_mb for _, watch in self.runs), default=0.0), 1)

    def capped(self) -> bool:
        return any(watch.capped for _, watch in self.runs)

    def crash_lines(self) -> list[str]:
        """For each process that exited non-zero, why: its `serve_failed` line, else its last
        line naming an exception, else its first ERROR line."""
        lines = []
        for serve, _ in self.runs:
            if serve.proc.returncode in (None, 0):
                continue
            log = serve.log_path.read_text(errors="replace").splitlines()
            failed = [ln for ln in log if "serve_failed" in ln]
            named = [ln for ln in log if ln[:1] != " " and ("Error" in ln or "Exception" in ln)]
            errors = [ln for ln in log if "level=ERROR" in ln]
            lines.append((failed[-1:] or named[-1:] or errors[:1] or ["(no error line)"])[0][-300:])
        return lines

    def log_tail(self, chars: int = 1500) -> str:
        return self.current.log_path.read_text(errors="replace")[-chars:] if self.runs else ""


def supervise(
    members: list[Supervised], done: Callable[[], bool], timeout_s: float, max_starts: int
) -> str | None:
    """Restart exited members until `done()`; None when done, else why the stream stopped."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return None
        for member in members:
            if not member.restart_if_exited(max_starts):
                return f"{member.name} exited {member.exit_codes()} and was started {max_starts} times"
        time.sleep(0.5)
    return f"not caught up within {timeout_s} s"
