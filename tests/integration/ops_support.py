"""Helpers of the operations tests: run `rbc serve` as a real process and look at it from outside.

`ServeProcess` starts the same `rbc serve` command the container image runs (`SERVE_ARGV`,
checked against the Dockerfile by tests/unit/test_deploy_files.py), reads its /metrics,
/healthz and /readyz over HTTP and stops it with SIGTERM. `LocalBroker` runs a second,
private Kafka broker on fixed ports from the jars that deploy/kafka/kafka.sh fetched, so a
test can take a broker away and bring it back without touching the shared one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from tests.support.model_factory import RELAXED_CANARY_ENV

ROOT = Path(__file__).resolve().parents[2]
SERVE_ARGV = ["rbc", "serve"]
KAFKA_LIB = Path(os.environ.get("RBC_KAFKA_WORK", ROOT / "deploy" / "kafka" / ".work")) / "lib"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.25) -> None:
    """Poll `check` until it is true; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)


def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes],
    partition: int | None = None,
) -> int:
    """Publish values (one message each) and wait for every acknowledgement; returns the count."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    errors: list[str] = []
    count = 0

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for value in values:
        kwargs: dict[str, Any] = {"on_delivery": on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        producer.produce(topic, value, **kwargs)
        producer.poll(0)
        count += 1
    remaining = producer.flush(30)
    assert not errors and remaining == 0, (errors, remaining)
    return count


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Any]:
    """Read `topic` from the start until `expected` messages arrived (or the time is up)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("ops-reader"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=500, timeout=0.5):
                if m.error() is None:
                    out.append(m)
    finally:
        consumer.close()
    return out


def header(message: Any, name: str) -> str | None:
    for key, value in message.headers() or []:
        if key == name:
            return bytes(value).decode()
    return None


class ServeProcess:
    """`rbc serve` in a child process, configured through RBC_ environment variables."""

    def __init__(
        self,
        log_path: Path,
        env: dict[str, str],
        args: list[str] | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.port = metrics_port or free_port()
        self.log_path = log_path
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("RBC_")}
        full_env.update(
            {
                "RBC_METRICS_HOST": "127.0.0.1",
                "RBC_METRICS_PORT": str(self.port),
                "RBC_INTRA_OP_THREADS": "1",
                "RBC_LOG_LEVEL": "INFO",
                # The tests' tiny models are no classifiers: past the canary unless a test sets it.
                **RELAXED_CANARY_ENV,
                # Labelling counts are exact only without random draws; a test that wants the
                # random share sets it.
                "RBC_LABELLING_RANDOM_SHARE": "0",
            }
        )
        full_env.update(env)
        rbc = Path(sys.executable).parent / SERVE_ARGV[0]
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(rbc), *SERVE_ARGV[1:], *(args or [])],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, bytes]:
        """(status, body) of GET path; (0, b"") while nothing listens yet."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, b""

    def readyz(self) -> tuple[int, dict[str, Any]]:
        code, body = self.get("/readyz")
        return code, (json.loads(body) if body else {})

    def samples(self) -> Samples:
        """Every sample of /metrics, keyed by (name, sorted labels)."""
        code, body = self.get("/metrics")
        if code != 200:
            return {}
        out: Samples = {}
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
        return out

    def total(self, metric: str, /, **labels: str) -> float:
        """Sum of the samples of `metric` whose labels include `labels`."""
        return sum(
            v for (n, ls), v in self.samples().items() if n == metric and set(labels.items()) <= set(ls)
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, for a process stuck where a test does not care how it ends."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (drain, commit, exit), then SIGKILL if it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return int(self.proc.returncode)


class LocalBroker:
    """A private single-node KRaft broker on fixed loopback ports that can stop and restart."""

    def __init__(self, work: Path, heap: str = "384m") -> None:
        if not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
            raise FileNotFoundError(f"no Kafka jars in {KAFKA_LIB}: run deploy/kafka/kafka.sh start once")
        self.work = work
        self.port = free_port()
        self.controller_port = free_port()
        self.heap = heap
        self.proc: subprocess.Popen[bytes] | None = None
        self._formatted = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self) -> list[str]:
        return [
            "java",
            "-Xms128m",
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info",
            "-cp",
            f"{KAFKA_LIB}/*",
        ]

    def _configure(self) -> Path:
        self.work.mkdir(parents=True, exist_ok=True)
        config = self.work / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.work / 'data'}",
                    "num.partitions=1",
                    "auto.create.topics.enable=true",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                ]
            )
            + "\n"
        )
        return config

    def start(self, timeout_s: float = 120.0) -> None:
        """Start (formatting storage the first time) and wait until the port answers."""
        config = self._configure()
        if not self._formatted:
            cluster = subprocess.run(
                [*self._java(), "kafka.tools.StorageTool", "random-uuid"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            subprocess.run(
                [*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config)],
                check=True,
                capture_output=True,
            )
            self._formatted = True
        log = (self.work / "kafka.log").open("ab")
        self.proc = subprocess.Popen(
            [*self._java(), "kafka.Kafka", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._answers, timeout_s, f"private broker on {self.bootstrap}", every_s=0.5)

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"private broker exited; see {self.work / 'kafka.log'}")
        try:
            AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
            return True
        except KafkaException:
            return False

    def stop(self) -> None:
        """SIGTERM the broker and wait for it (SIGKILL after 60 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
