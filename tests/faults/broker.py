"""A private broker for the broker-fault cases, driven through `deploy/kafka/kafka.sh`.

Each case gets a work directory of its own (the jars linked from the cache that
`kafka.sh start` filled once), so killing, freezing or restarting it touches no other case
and no other broker; `kafka.sh start --keep` brings it back on the same data and port.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
SCRIPT_TIMEOUT_S = 180


def jar_cache() -> Path:
    """The jars of the broker `kafka.sh` already runs (RBC_KAFKA_WORK), else the default cache."""
    for work in (os.environ.get("RBC_KAFKA_WORK"), str(ROOT / "deploy" / "kafka" / ".work")):
        if work and any((Path(work) / "lib").glob("kafka_2.13-*.jar")):
            return Path(work) / "lib"
    raise FileNotFoundError("no Kafka jars cached: run deploy/kafka/kafka.sh start once")


class ScriptBroker:
    """One broker in `work`, started, faulted and stopped only through kafka.sh."""

    def __init__(self, work: Path, heap: str = "384m") -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        lib = work / "lib"
        if not lib.exists():
            lib.symlink_to(jar_cache(), target_is_directory=True)
        self.env = {**os.environ, "RBC_KAFKA_WORK": str(work), "RBC_KAFKA_HEAP": heap}
        self.bootstrap = ""

    def script(self, *args: str) -> str:
        """Run kafka.sh with `args`; its stdout. A failure raises with its stderr."""
        done = subprocess.run(
            [str(KAFKA_SH), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, f"kafka.sh {' '.join(args)} failed: {done.stderr[-2000:]}"
        return done.stdout.strip()

    def start(self, keep: bool = False) -> str:
        address = self.script("start", "--keep") if keep else self.script("start")
        assert not self.bootstrap or address == self.bootstrap, f"bootstrap moved: {address}"
        self.bootstrap = address
        return address

    def answers(self) -> bool:
        try:
            AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=5)
            return True
        except KafkaException:
            return False

    def kill(self) -> None:
        self.script("kill")

    def freeze(self) -> None:
        self.script("freeze")

    def thaw(self) -> None:
        self.script("thaw")

    def stop(self) -> None:
        self.script("stop")
