"""Benchmark: `rbc serve` end to end through the local Kafka broker.

Per round, with fresh uuid topics and a fresh `rbc serve` process (the real CLI):

1. throughput: N real alerts are published into the input topic BEFORE the service starts;
   the service starts, and alerts/s = N / (broker append time of the last scored record -
   the moment /readyz first answered 200, i.e. partitions assigned and model loaded);
2. latency: real alerts are then offered at a fixed rate (250/s) for a fixed duration into a
   second input topic the same process consumes; an alert's latency is the broker append
   time of its scored record (the scored topic uses LogAppendTime) minus the create time of
   its input message (stamped by the replaying producer), i.e. produced -> available
   downstream, through decode, preprocessing, batched ONNX scoring, produce and ack. The
   rate the replaying producer actually achieved is reported beside the rate offered.

The figures of each round are kept; the printed JSON reports their medians, beside the
no-Kafka baseline of the same round: the same batch decode (`--decode-path`), triplets and
batched ONNX scoring in one process, as the service's loop does them. `--intra-op-threads
1,2` compares ONNX Runtime thread counts: each round runs every value in turn, so on a
machine whose load moves they share it; the JSON then has one summary per value. `--quick`
(300 alerts, 4 s at the offered rate, one round) checks that the benchmark runs; it measures
nothing worth quoting. Needs a broker: `deploy/kafka/kafka.sh start` (the address is read
from `$RBC_KAFKA_WORK/bootstrap`, by default deploy/kafka/.work/bootstrap).

    python bench/stream.py [--alerts DIR] [--n 3000] [--rate 250] [--seconds 15] [--rounds 3]
                           [--decode-path auto|native|python] [--intra-op-threads 1[,2]] [--quick]
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

import numpy as np
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from rbc1000.stream.kafka_io import KafkaProducer
from rbc1000.stream.replay import Outgoing, replay

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/broker.py, shared with bench/scale.py

from bench.broker import bootstrap_address, load_alerts, wait_count  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "fink-broker" / "ztf_v4.02"
DEFAULT_MODEL = ROOT / "models" / "rbc-compact-default.onnx"


def create_topics(bootstrap: str, names: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [
        NewTopic(names["tput"], 2, 1),
        NewTopic(names["lat"], 2, 1),
        NewTopic(names["scored"], 1, 1, config={"message.timestamp.type": "LogAppendTime"}),
        NewTopic(names["labelling"], 1, 1),
        NewTopic(names["dead"], 1, 1),
    ]
    for future in admin.create_topics(topics).values():
        future.result(30)


def delete_topics(bootstrap: str, names: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics([v for k, v in names.items() if k != "group"]).values():
        with contextlib.suppress(Exception):  # best effort: results do not depend on it
            future.result(30)


def publish(bootstrap: str, topic: str, packets: list[bytes], n: int, rate: float) -> int:
    producer = KafkaProducer({"bootstrap.servers": bootstrap}, linger_ms=1)
    messages = (Outgoing(f"b{i}".encode(), packets[i % len(packets)]) for i in range(n))
    return replay(messages, producer, topic, rate_per_s=rate).messages


def start_serve(
    bootstrap: str, names: dict[str, str], port: int, args: argparse.Namespace, threads: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBC_")}
    env.update(
        {
            "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "RBC_INPUT_TOPICS": f"{names['tput']},{names['lat']}",
            "RBC_GROUP_ID": names["group"],
            "RBC_SCORED_TOPIC": names["scored"],
            "RBC_LABELLING_TOPIC": names["labelling"],
            "RBC_DEAD_LETTER_TOPIC": names["dead"],
            "RBC_MODEL_PATH": str(args.model),
            "RBC_PROVIDER": "cpu",
            "RBC_BATCH_SIZE": str(args.batch_size),
            "RBC_INTRA_OP_THREADS": str(threads),
            "RBC_DECODE_PATH": args.decode_path,
            "RBC_METRICS_HOST": "127.0.0.1",
            "RBC_METRICS_PORT": str(port),
        }
    )
    if args.allow_ungated:
        env["RBC_ALLOW_UNGATED"] = "true"
    if args.no_packet:
        env["RBC_INCLUDE_PACKET"] = "false"
    rbc = Path(sys.executable).parent / "rbc"
    return subprocess.Popen(
        [str(rbc), "serve"], env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> float:
    """Wall time at which /readyz first answered 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"rbc serve exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return time.time()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    raise SystemExit("rbc serve was not ready in time")


def scored_times(bootstrap: str, topic: str, expected: int, timeout_s: float) -> list[Any]:
    """(source topic, source create ms, scored append ms) of `expected` scored records."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                if m.error() is None:
                    h = {
                        str(k): v.decode() if isinstance(v, bytes) else str(v)
                        for k, v in list(m.headers() or [])
                    }
                    out.append((h["rbc.source.topic"], int(h["rbc.source.timestamp_ms"]), m.timestamp()[1]))
    finally:
        consumer.close()
    if len(out) < expected:
        raise SystemExit(f"only {len(out)} of {expected} scored records within {timeout_s} s")
    return out


def one_round(
    bootstrap: str, packets: list[bytes], args: argparse.Namespace, threads: int, log: Path
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    names = {k: f"bench-{k}-{tag}" for k in ("tput", "lat", "scored", "labelling", "dead", "group")}
    create_topics(bootstrap, names)
    publish(bootstrap, names["tput"], packets, args.n, rate=0)
    port = 20000 + int(tag, 16) % 20000
    proc = start_serve(bootstrap, names, port, args, threads, log)
    try:
        ready = wait_ready(port, proc)
        wait_count(bootstrap, names["scored"], args.n, timeout_s=600)
        n_lat = int(args.rate * args.seconds)
        publish(bootstrap, names["lat"], packets, n_lat, args.rate)
        wait_count(bootstrap, names["scored"], args.n + n_lat, timeout_s=120)
        records = scored_times(bootstrap, names["scored"], args.n + n_lat, timeout_s=120)
        last_tput = max(t for topic, _, t in records if topic == names["tput"])
        alerts_per_s = args.n / (last_tput / 1000 - ready)
        lat = np.array([(t - created) / 1000 for topic, created, t in records if topic == names["lat"]])
        offered = sorted(created for topic, created, _ in records if topic == names["lat"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        delete_topics(bootstrap, names)
    return {
        "alerts_per_s": round(alerts_per_s, 1),
        "p50_latency_s": round(float(np.percentile(lat, 50)), 4),
        "p99_latency_s": round(float(np.percentile(lat, 99)), 4),
        "latency_alerts": len(lat),
        "achieved_rate_per_s": round((len(offered) - 1) / max((offered[-1] - offered[0]) / 1000, 1e-3), 1),
    }


def in_process_rate(packets: list[bytes], args: argparse.Namespace, threads: int) -> float:
    """Baseline: the same batch decode, triplets and batched ONNX scoring of N alerts in one
    process and one thread with no Kafka at all, alerts/s."""
    from rbc1000.alerts.native import make_batch_decoder
    from rbc1000.model.decisions import Prepared, score_batch
    from rbc1000.model.scoring import Scorer

    decoder = make_batch_decoder(args.decode_path)
    scorer = Scorer.load(args.model, "cpu", threads)
    version = scorer.info.preprocessing_version
    stream = [packets[i % len(packets)] for i in range(args.n)]
    started = time.perf_counter()
    for i in range(0, len(stream), args.batch_size):
        batch = decoder.decode_batch(stream[i : i + args.batch_size], version)
        prepared = Prepared(batch.triplets, batch.triplet_rows(), version)
        score_batch([item.result for item in batch.items], scorer, prepared=prepared)
    rate: float = args.n / (time.perf_counter() - started)
    return rate


def thread_counts(text: str) -> list[int]:
    """`1` or `1,2`: the ONNX Runtime thread counts to run, each >= 0."""
    counts = [int(v) for v in text.split(",") if v.strip()]
    if not counts or min(counts) < 0:
        raise argparse.ArgumentTypeError(f"need counts >= 0 separated by commas, got {text!r}")
    return counts


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--alerts", type=Path, default=SHARED if SHARED.exists() else ROOT / "tests" / "data" / "alerts"
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--bootstrap")
    parser.add_argument("--n", type=int, default=3000, help="alerts for the throughput phase")
    parser.add_argument("--rate", type=float, default=250.0, help="offered alerts/s, latency phase")
    parser.add_argument("--seconds", type=float, default=15.0, help="latency phase duration")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--decode-path", choices=["auto", "native", "python"], default="auto", help="of the service"
    )
    parser.add_argument(
        "--intra-op-threads",
        type=thread_counts,
        default=[1],
        help="ONNX Runtime threads of the service (1, its default; 0: ORT's choice); several "
        "separated by commas (1,2) are run in turn within each round",
    )
    parser.add_argument(
        "--allow-ungated", action="store_true", help="serve a model without a passed gate record"
    )
    parser.add_argument(
        "--no-packet",
        action="store_true",
        help="scored records without the original packet (the service's --no-packet): "
        "shows what copying each packet back through the broker costs",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short check that it runs: 300 alerts, 4 s, 1 round"
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.seconds, args.rounds = min(args.n, 300), min(args.seconds, 4.0), 1
    return args


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of one configuration's rounds, and the rounds."""
    alerts_per_s = statistics.median(r["alerts_per_s"] for r in rounds)
    baseline = statistics.median(r["baseline_no_kafka_alerts_per_s"] for r in rounds)
    return {
        "alerts_per_s": alerts_per_s,
        "baseline_no_kafka_alerts_per_s": baseline,
        "ratio_to_baseline": round(alerts_per_s / baseline, 3),
        "p50_latency_s": statistics.median(r["p50_latency_s"] for r in rounds),
        "p99_latency_s": statistics.median(r["p99_latency_s"] for r in rounds),
        "achieved_rate_per_s": statistics.median(r["achieved_rate_per_s"] for r in rounds),
        "rounds": rounds,
    }


def main() -> None:
    args = parse_args()
    bootstrap = bootstrap_address(args.bootstrap)
    packets = load_alerts(args.alerts)
    work = ROOT / ".cache" / "bench-stream"
    work.mkdir(parents=True, exist_ok=True)
    rounds: dict[int, list[dict[str, Any]]] = {t: [] for t in args.intra_op_threads}
    for i in range(args.rounds):
        for threads in rounds:  # every configuration within the round: they share its load
            result = one_round(bootstrap, packets, args, threads, work / f"serve-{i}-t{threads}.log")
            result["baseline_no_kafka_alerts_per_s"] = round(in_process_rate(packets, args, threads), 1)
            result["load_average_1m"] = round(os.getloadavg()[0], 2)
            rounds[threads].append(result)
            print(f"round {i + 1}/{args.rounds} intra_op_threads={threads}: {result}", file=sys.stderr)
    from rbc1000.model.scoring import Scorer

    scorer = Scorer.load(args.model, "cpu")
    summaries = {t: summarise(r) for t, r in rounds.items()}
    common = {
        "statistic": f"median of {args.rounds} rounds",
        "throughput_alerts": args.n,
        "offered_rate_per_s": args.rate,
        "latency_seconds_per_round": args.seconds,
        "batch_size": args.batch_size,
        "decode_path": args.decode_path,
        "include_packet": not args.no_packet,
        "model": f"{scorer.info.name} {scorer.info.version}",
        "provider": scorer.provider,
        "alerts_source": str(args.alerts),
        "distinct_packets": len(packets),
        "cpu_cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if len(summaries) == 1:
        ((threads, summary),) = summaries.items()
        report = summary | common | {"intra_op_threads": threads}
    else:
        report = common | {"by_intra_op_threads": {str(t): s for t, s in summaries.items()}}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
