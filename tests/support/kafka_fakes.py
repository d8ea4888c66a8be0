"""In-memory stand-ins for `rbc1000.stream.kafka_io`'s MessageSource and MessageSink, and helpers
that build a `StreamProcessor` around them with real alerts and the tiny ONNX model."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rbc1000.alerts.native import BatchDecoder, DecodePath, make_batch_decoder, native_available
from rbc1000.model.decisions import LabellingLimiter
from rbc1000.model.scoring import Scorer
from rbc1000.ops.settings import ServeSettings
from rbc1000.stream.kafka_io import DeliveryError, Message, OutputRecord, Partition, RebalanceListener
from rbc1000.stream.loop import Collaborators, StopFlag, StreamProcessor

ALERTS = Path(__file__).resolve().parents[1] / "data" / "alerts"
DECODE_PATHS: list[DecodePath] = ["native", "python"] if native_available() else ["python"]
# The decoder `collaborators` builds; `each_decode_path` runs a test module once per path.
decode_path: DecodePath = "auto"


@pytest.fixture(autouse=False, params=DECODE_PATHS)
def each_decode_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> DecodePath:
    """Use as `pytestmark = pytest.mark.usefixtures("each_decode_path")` (imported into the
    test module): every test there runs on the native and on the Python decode path."""
    path: DecodePath = request.param
    monkeypatch.setattr(f"{__name__}.decode_path", path)
    return path


def vendored(pattern: str) -> list[bytes]:
    """Bytes of the vendored real alert files matching a glob pattern, sorted by name."""
    return [p.read_bytes() for p in sorted(ALERTS.glob(pattern))]


def messages(
    values: Sequence[bytes | None], partition: int = 0, topic: str = "in", first_offset: int = 0
) -> list[Message]:
    """Messages with consecutive offsets in one partition."""
    return [
        Message(topic, partition, first_offset + i, f"k{i}".encode(), v, (), 1_700_000_000_000)
        for i, v in enumerate(values)
    ]


@dataclass
class FakeClock:
    """A monotonic clock the fakes advance."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeSource:
    """Hands out queued messages; assigns all their partitions on the first consume.

    `per_call` caps messages per consume; `clock`/`step_s` advance a FakeClock per call;
    `stop` is set once the queue is empty (ends `StreamProcessor.run`); `script[n]` runs
    before the n-th consume (1-based), e.g. to revoke partitions.
    """

    queue: deque[Message]
    stop: StopFlag | None = None
    per_call: int | None = None
    clock: FakeClock | None = None
    step_s: float = 0.0
    script: dict[int, Callable[[FakeSource], None]] = field(default_factory=dict)
    connected: bool = True
    committed: dict[Partition, int] = field(default_factory=dict)
    commit_calls: list[dict[Partition, int]] = field(default_factory=list)
    listener: RebalanceListener | None = None
    calls: int = 0
    paused: int = 0  # pause() calls; with `resumed`, what the keep-alive of a slow decode did
    resumed: int = 0

    @classmethod
    def of(cls, msgs: Iterable[Message], **kwargs: object) -> FakeSource:
        return cls(deque(msgs), **kwargs)  # type: ignore[arg-type]

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener) -> None:
        self.listener = listener

    def consume(self, max_messages: int, timeout_s: float) -> list[Message]:
        assert self.listener is not None
        if self.calls == 0:
            self.listener.on_assign(sorted({m.source for m in self.queue}))
        self.calls += 1
        if self.calls in self.script:
            self.script.pop(self.calls)(self)
        n = min(max_messages, self.per_call or max_messages, len(self.queue))
        out = [self.queue.popleft() for _ in range(n)]
        if self.clock is not None:
            self.clock.now += self.step_s if out else timeout_s
        if not self.queue and self.stop is not None and not self.stop.requested:
            self.stop.set()
        return out

    def revoke(self, parts: list[Partition]) -> None:
        assert self.listener is not None
        self.listener.on_revoke(parts)
        self.queue = deque(m for m in self.queue if m.source not in parts)

    def commit(self, offsets: Mapping[Partition, int]) -> list[Partition]:
        self.commit_calls.append(dict(offsets))
        self.committed.update(offsets)
        return []

    def lag(self) -> dict[Partition, int]:
        return {}

    def pause(self) -> None:
        self.paused += 1

    def resume(self) -> None:
        self.resumed += 1

    def close(self) -> None:
        pass


@dataclass
class FakeSink:
    """Keeps produced records; acknowledges them on flush, or fails those of `fail_topics`."""

    fail_topics: frozenset[str] = frozenset()
    records: list[OutputRecord] = field(default_factory=list)
    unacked: list[tuple[OutputRecord, Callable[[], None]]] = field(default_factory=list)
    flushed_sources: list[set[tuple[int, int]]] = field(default_factory=list)

    def produce(self, record: OutputRecord, on_delivered: Callable[[], None]) -> None:
        self.records.append(record)
        self.unacked.append((record, on_delivered))

    def poll(self) -> None:
        pass

    def flush(self, timeout_s: float) -> None:
        pending, self.unacked = self.unacked, []
        if pending:
            self.flushed_sources.append({source_of(r) for r, _ in pending if r.headers})
        failed = [r.topic for r, _ in pending if r.topic in self.fail_topics]
        for record, delivered in pending:
            if record.topic not in self.fail_topics:
                delivered()
        if failed:
            raise DeliveryError(f"{len(failed)} records to {failed[0]} failed")

    def on(self, topic: str) -> list[OutputRecord]:
        return [r for r in self.records if r.topic == topic]


def header(record: OutputRecord, name: str) -> str:
    """One header of a produced record, as text."""
    values = [v.decode() for k, v in record.headers if k == name]
    assert len(values) == 1, f"{name} appears {len(values)} times in {record.headers}"
    return values[0]


def source_of(record: OutputRecord) -> tuple[int, int]:
    """(partition, offset) of the input message a produced record came from."""
    return int(header(record, "rbc.source.partition")), int(header(record, "rbc.source.offset"))


def settings(**overrides: object) -> ServeSettings:
    """Serve settings for unit tests: input topic `in`, no metrics port."""
    values: dict[str, object] = {
        "input_topics": ["in"],
        "metrics_port": None,
        "batch_size": 8,
        "batch_max_wait_s": 0.2,
    }
    values.update(overrides)
    return ServeSettings(**values)  # type: ignore[arg-type]


def collaborators(source: FakeSource, sink: FakeSink, scorer: Scorer, **parts: Any) -> Collaborators:
    """The loop's collaborators over the fakes: the real decoder (native when built), no
    labelling cap, the source's clock and a stop flag the source sets once it is empty;
    `parts` replaces any of them."""
    stop = source.stop or StopFlag()
    source.stop = stop
    chosen: dict[str, Any] = {
        "decoder": make_batch_decoder(decode_path),
        "limiter": LabellingLimiter(math.inf),
        "stop": stop,
        "clock": source.clock or FakeClock(),
    }
    chosen.update(parts)
    return Collaborators(source, sink, scorer=scorer, **chosen)


def processor(
    source: FakeSource,
    sink: FakeSink,
    scorer: Scorer,
    limiter: LabellingLimiter | None = None,
    decoder: BatchDecoder | None = None,
    **overrides: object,
) -> StreamProcessor:
    """A StreamProcessor over the fakes (see `collaborators`) with `limiter` or `decoder` when
    given and the unit-test settings changed by `overrides`; it stops when the source is empty."""
    given = {"limiter": limiter, "decoder": decoder}
    parts = {name: part for name, part in given.items() if part is not None}
    return StreamProcessor(settings(**overrides), collaborators(source, sink, scorer, **parts))
