"""Benchmark: scale-out of `rbc serve`, 1, 2 and 4 instances in one consumer group.

Per instance count and round, with fresh uuid topics (an input topic of 8 partitions) and fresh
`rbc serve` processes (the real CLI):

1. N real alerts are published into the input topic first, so the producer is not what is
   measured;
2. the instances start; the round waits until every /readyz answers 200 and the partitions the
   instances report add up to 8 (the group has settled), and notes how many records were
   already scored then (an instance that was ready first starts alone);
3. alerts/s = alerts scored after that moment / (broker append time of the last scored
   record - that moment); the CPU seconds the instances spent in that window (from /proc)
   per alert give the CPU cost per alert, which the machine's other jobs do not inflate.

The printed JSON holds, per instance count, the median over the rounds, the speed-up against
one instance, and the CPU count of this machine: instances beyond the free cores share them.
Needs a broker: `deploy/kafka/kafka.sh start` (the address is read from deploy/kafka/.work/bootstrap).

    python bench/scale.py [--alerts DIR] [--n 6000] [--instances 1 2 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from rbc1000.stream.kafka_io import KafkaProducer
from rbc1000.stream.replay import Outgoing, replay

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/broker.py, shared with bench/stream.py

from bench.broker import bootstrap_address, load_alerts, wait_count  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "fink-broker" / "ztf_v4.02"
DEFAULT_MODEL = ROOT / "models" / "rbc-compact-default.onnx"
PARTITIONS = 8
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def readyz(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            body: dict[str, Any] = json.loads(r.read())
            return body
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        return body
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return {"ready": False, "partitions": 0}


def start_instances(bootstrap: str, names: dict[str, str], k: int, args: argparse.Namespace) -> list[Any]:
    """k `rbc serve` processes in one group; (process, metrics port) pairs."""
    rbc = Path(sys.executable).parent / "rbc"
    out = []
    for i in range(k):
        port = 20000 + (int(names["tag"], 16) + i) % 20000
        env = {key: v for key, v in os.environ.items() if not key.startswith("RBC_")}
        env.update(
            {
                "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
                "RBC_INPUT_TOPICS": names["input"],
                "RBC_GROUP_ID": names["group"],
                "RBC_SCORED_TOPIC": names["scored"],
                "RBC_LABELLING_TOPIC": names["labelling"],
                "RBC_DEAD_LETTER_TOPIC": names["dead"],
                "RBC_MODEL_PATH": str(args.model),
                "RBC_PROVIDER": "cpu",
                "RBC_INTRA_OP_THREADS": "1",
                "RBC_METRICS_HOST": "127.0.0.1",
                "RBC_METRICS_PORT": str(port),
            }
        )
        log = (args.work / f"serve-{names['tag']}-{i}.log").open("wb")
        proc = subprocess.Popen([str(rbc), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        out.append((proc, port))
    return out


def wait_settled(instances: list[Any], timeout_s: float = 180) -> None:
    """Until every instance is ready and the group's partitions are all assigned once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p, _ in instances):
            raise SystemExit("an rbc serve instance exited before it was ready")
        states = [readyz(port) for _, port in instances]
        if all(s["ready"] for s in states) and sum(s["partitions"] for s in states) == PARTITIONS:
            return
        time.sleep(0.2)
    raise SystemExit("the group did not settle in time")


def scored_so_far(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        consumer.close()


def append_times(bootstrap: str, topic: str, partitions: int, offset: int) -> list[int]:
    """Broker timestamps (ms) of the record at `offset` of each partition that has one."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    out = []
    try:
        for p in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            at = high - 1 if offset < 0 else low
            if high > low:
                consumer.assign([TopicPartition(topic, p, at)])
                message = None
                while message is None or message.error() is not None:
                    message = consumer.poll(5)
                out.append(message.timestamp()[1])
    finally:
        consumer.close()
    return out


def one_round(bootstrap: str, packets: list[bytes], k: int, args: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    names = {key: f"scale-{key}-{tag}" for key in ("input", "scored", "labelling", "dead", "group")}
    names["tag"] = tag
    admin = AdminClient({"bootstrap.servers": bootstrap})
    log_append = {"message.timestamp.type": "LogAppendTime"}
    topics = [
        NewTopic(names["input"], PARTITIONS, 1, config=log_append),
        NewTopic(names["scored"], 1, 1, config=log_append),
        NewTopic(names["labelling"], 1, 1),
        NewTopic(names["dead"], 1, 1),
    ]
    for future in admin.create_topics(topics).values():
        future.result(30)
    producer = KafkaProducer({"bootstrap.servers": bootstrap}, linger_ms=5)
    messages = (Outgoing(f"s{i}".encode(), packets[i % len(packets)]) for i in range(args.n))
    replay(messages, producer, names["input"], rate_per_s=0)
    instances = start_instances(bootstrap, names, k, args)
    try:
        wait_settled(instances)
        settled = time.time()
        cpu_before = sum(cpu_seconds(p.pid) for p, _ in instances)
        before = scored_so_far(bootstrap, names["scored"])
        wait_count(bootstrap, names["scored"], args.n, timeout_s=900)
        cpu = sum(cpu_seconds(p.pid) for p, _ in instances) - cpu_before
        last_out = max(append_times(bootstrap, names["scored"], 1, -1))
    finally:
        for proc, _ in instances:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in instances:
            proc.wait(60)
        with contextlib.suppress(Exception):  # best effort: results do not depend on it
            for future in admin.delete_topics([t.topic for t in topics]).values():
                future.result(30)
    seconds = last_out / 1000 - settled
    measured = args.n - before
    return {
        "alerts_per_s": round(measured / seconds, 1),
        "cpu_ms_per_alert": round(1000 * cpu / measured, 3),
        "cpu_cores_busy": round(cpu / seconds, 2),
        "alerts_measured": measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--alerts", type=Path, default=SHARED if SHARED.exists() else ROOT / "tests" / "data" / "alerts"
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--bootstrap")
    parser.add_argument("--n", type=int, default=6000, help="alerts per round")
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    bootstrap = bootstrap_address(args.bootstrap)
    packets = load_alerts(args.alerts)
    if not packets:
        raise SystemExit(f"no alert packets under {args.alerts}")
    args.work = ROOT / ".cache" / "bench-scale"
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for k in args.instances:
        rounds = []
        for r in range(args.rounds):
            rounds.append(one_round(bootstrap, packets, k, args))
            print(f"{k} instance(s), round {r + 1}/{args.rounds}: {rounds[-1]}", file=sys.stderr)
        results[str(k)] = {
            "alerts_per_s": statistics.median(x["alerts_per_s"] for x in rounds),
            "cpu_ms_per_alert": statistics.median(x["cpu_ms_per_alert"] for x in rounds),
            "cpu_cores_busy": statistics.median(x["cpu_cores_busy"] for x in rounds),
            "rounds": rounds,
        }
    one = results[str(args.instances[0])]["alerts_per_s"]
    for value in results.values():
        value["speedup"] = round(value["alerts_per_s"] / one, 2)
    print(
        json.dumps(
            {
                "instances": results,
                "statistic": f"median of {args.rounds} rounds",
                "partitions": PARTITIONS,
                "alerts_per_round": args.n,
                "intra_op_threads_per_instance": 1,
                "alerts_source": str(args.alerts),
                "distinct_packets": len(packets),
                "cpu_count": os.cpu_count(),
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
