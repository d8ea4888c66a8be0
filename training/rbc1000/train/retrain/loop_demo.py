"""The closed loop on simulated truth, every stage a real process (`scripts/loop-demo.sh`).

    python -m rbc1000.train.retrain.loop_demo --bootstrap HOST:PORT --work DIR [--rounds 3]

1. v1: `rbc-train retrain --labels-dir` on a few simulated labels (`--seed-labels`), so the
   first champion is weak and its low-confidence band wide, as a first model is.
2. `rbc serve --model-registry` scores the input topic and sends uncertain alerts to the
   labelling topic; `rbc label serve` ingests them. Both run for the whole demo.
3. Each round: `rbc-train simulate --format avro` writes a fresh batch of packets with their
   truth, `rbc replay` publishes them, the scripted labeller labels what reached the app,
   `rbc-train retrain --labels-url` trains a challenger and promotes it past the gate.
4. After a promotion, the service's /metrics must show the new version (no restart: the
   same process), and the next batch (or a last check batch) is read back from the scored
   topic to count the records each model version scored.

Prints one JSON object: the last round's figures at the top level, every round under
`rounds`. `--curve-out` copies the registry's learning curve (the last run's plot) there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from rbc1000.model.registry import ModelRegistry

BIN = Path(sys.executable).parent
ADMIN, LABELLER, PASSWORD = "trainer", "labeller", "loop-demo-password"
RUN_YAML = """\
model: compact
rounds: 0
epochs: {epochs}
min_updates: {min_updates}
lr: 0.001
lr_step: 1000
batch_size: 32
class_weighting: none
eval_batch_size: 256
device: cpu
amp: false
"""


class DemoError(RuntimeError):
    """A stage of the demo failed; the message names it."""


def tool(*argv: str, stdin: str = "", env: dict[str, str] | None = None, name: str = "rbc") -> str:
    """Run `rbc ...` / `rbc-train ...` / `python -m ...` to completion; its stdout."""
    exe = [sys.executable, "-m", argv[0]] if name == "python" else [str(BIN / name)]
    args = list(argv[1:]) if name == "python" else list(argv)
    done = subprocess.run(
        [*exe, *args], input=stdin, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        raise DemoError(f"{name} {' '.join(argv[:2])} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def last_json(text: str) -> dict[str, Any]:
    """The last line of `text` that is a JSON object."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise DemoError(f"no JSON in output: {text[-500:]}")


def wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


class Topics:
    """uuid-named topics of one demo, created up front."""

    def __init__(self, bootstrap: str) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        tag = uuid.uuid4().hex[:8]
        self.input, self.scored = f"loop-{tag}-alerts", f"loop-{tag}-scored"
        self.labelling, self.labels = f"loop-{tag}-labelling", f"loop-{tag}-labels"
        self.dead = f"loop-{tag}-dead"
        names = [self.input, self.scored, self.labelling, self.labels, self.dead]
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic(t, 1, 1) for t in names]).values():
            future.result(30)


def read_records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of a one-partition topic, decoded as the scored topic's records."""
    from confluent_kafka import Consumer, TopicPartition

    from rbc1000.stream.records import decode_kafka

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"loop-read-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, low)])
        out: list[dict[str, Any]] = []
        while len(out) < high - low:
            message = consumer.poll(5)
            if message is None:
                break
            value = message.value()
            if not message.error() and value is not None:
                out.append(decode_kafka(value))
        return out
    finally:
        consumer.close()


class Services:
    """`rbc serve` and `rbc label serve` as child processes for the whole demo."""

    def __init__(self, args: argparse.Namespace, topics: Topics, registry: Path) -> None:
        self.args, self.topics, self.registry = args, topics, registry
        self.metrics_port, self.http_port = free_port(), free_port()
        self.label_url = f"http://127.0.0.1:{self.http_port}"
        self.db_url = f"sqlite:///{args.work / 'label.sqlite'}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def _start(self, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.args.work / log).open("wb") as out:
            proc = subprocess.Popen([str(BIN / "rbc"), *argv], stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        t, b = self.topics, self.args.bootstrap
        serve = ["serve", "--bootstrap", b, "--topics", t.input, "--group", f"{t.input}-scorer"]
        serve += ["--scored-topic", t.scored, "--labelling-topic", t.labelling, "--dead-letter-topic", t.dead]
        serve += ["--model-registry", str(self.registry), "--model-poll", "1", "--provider", "cpu"]
        serve += ["--intra-op-threads", "1", "--labelling-rate", "inf", "--batch-max-wait", "0.2"]
        # The demo starts from a weak v1 on purpose (imported ungated when it misses the job's
        # floor), and its models learn simulated packets: the shipped canary of real ZTF alerts
        # would refuse them for what the demo does not claim. Here the retraining job's gate on
        # held-out labels is the one that decides; the service logs every ungated load.
        serve += ["--allow-ungated", "--canary-min-auc", "0", "--canary-max-uncertain", "1"]
        self.serve = self._start([*serve, "--metrics-port", str(self.metrics_port)], "serve.log")
        for user, role in ((ADMIN, "admin"), (LABELLER, "labeller")):
            add = ["label", "useradd", user, "--role", role, "--password-stdin"]
            tool(*add, "--database-url", self.db_url, stdin=PASSWORD + "\n")
        app = ["label", "serve", "--database-url", self.db_url, "--http-port", str(self.http_port)]
        app += ["--bootstrap", b, "--labelling-topic", t.labelling, "--labels-topic", t.labels]
        app += ["--ingest-group-id", f"{t.labelling}-app", "--publish-interval", "0.5"]
        self.label = self._start(app, "label.log")
        wait_for(lambda: self.served_version() is not None, 120, "rbc serve /metrics")
        wait_for(lambda: bool(http_text(f"{self.label_url}/login")), 120, "rbc label serve")

    def served_version(self) -> str | None:
        """The version in the service's `rbc_model_info` metric (None until it answers)."""
        self.check_alive()
        for line in http_text(f"http://127.0.0.1:{self.metrics_port}/metrics").splitlines():
            if line.startswith("rbc_model_info{"):
                return line.split('version="', 1)[1].split('"', 1)[0]
        return None

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                what = " ".join(str(a) for a in proc.args[1:3])  # type: ignore[index]
                raise DemoError(f"rbc {what} exited {proc.returncode}; see the logs in {self.args.work}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def simulate_batch(args: argparse.Namespace, name: str, seed: int, n: int) -> tuple[Path, set[str]]:
    """`rbc-train simulate --format avro`: n packets (two fifths real) and their truth."""
    out = args.work / name
    n_real = max(1, 2 * n // 5)
    argv = ["simulate", "--alerts", str(args.alerts), "--out", str(out), "--format", "avro", "--quiet"]
    argv += ["--seed", str(seed), "--n-real", str(n_real), "--n-bogus", str(n - n_real)]
    tool(*argv, name="rbc-train")
    return out, {p.stem for p in (out / "packets").glob("*.avro")}


def replay_and_score(args: argparse.Namespace, topics: Topics, batch: Path, ids: set[str]) -> Counter[str]:
    """Replay a batch; once every alert is scored, the number scored by each model version."""
    tool("replay", str(batch / "packets"), "--topic", topics.input, "--bootstrap", args.bootstrap, "--quiet")
    versions: Counter[str] = Counter()

    def scored_all() -> bool:
        records = [r for r in read_records(args.bootstrap, topics.scored) if str(r["alert_id"]) in ids]
        versions.clear()
        versions.update(str(r["model_version"]) for r in records)
        return len(records) >= len(ids)

    wait_for(scored_all, args.timeout_s, f"the {len(ids)} alerts of {batch.name} scored")
    return versions


def retrain(args: argparse.Namespace, registry: Path, source: list[str]) -> dict[str, Any]:
    """One `rbc-train retrain` run; its JSON summary."""
    argv = [
        "retrain",
        "--model-registry",
        str(registry),
        *source,
        "--run-config",
        str(args.work / "run.yaml"),
    ]
    argv += ["--bootstrap", "200", "--min-eval", str(args.min_eval), "--min-train", "10", "--threads", "1"]
    argv += ["--band-purity", str(args.band_purity), "--ece-tolerance", str(args.ece_tolerance)]
    argv += ["--log-level", "WARNING"]
    return last_json(tool(*argv, name="rbc-train", env={"RBC_LABELS_PASSWORD": PASSWORD}))


def seed_champion(args: argparse.Namespace, registry: Path) -> dict[str, Any]:
    """v1: the retraining job's challenger on a few simulated labels.

    With no champion the job promotes only above its floor (ROC-AUC lower bound over 0.5),
    which a model of so few labels may miss; a first model has nothing to beat, so it is then
    imported as v1 (`rbc models import`, marked ungated) from the run's challenger.onnx.
    """
    seed_dir, _ = simulate_batch(args, "seed", 1000, args.seed_labels)
    shutil.copy(seed_dir / "truth.csv", seed_dir / "labels.csv")
    outcome = retrain(args, registry, ["--labels-dir", str(seed_dir)])
    if not outcome.get("promoted"):
        model = registry / "runs" / str(outcome["run_id"]) / "challenger.onnx"
        tool("models", "import", str(model), "--registry", str(registry), "--make-current")
    return outcome


def label(args: argparse.Namespace, services: Services, truth: list[Path]) -> dict[str, Any]:
    argv = ["rbc1000.train.retrain.scripted_labeller", "--url", services.label_url, "--username", LABELLER]
    argv += ["--truth", *map(str, truth), "--error-rate", str(args.error_rate), "--idle-s", str(args.idle_s)]
    return last_json(tool(*argv, stdin=PASSWORD + "\n", name="python"))


ROUND_KEYS = ("status", "reasons", "n_train", "n_eval", "champion_version", "challenger_version", "promoted")


def run_round(args: argparse.Namespace, services: Services, n: int, truth: list[Path]) -> dict[str, Any]:
    """Label what the last batch sent to labelling, retrain, and wait for a promoted model."""
    before = services.served_version()
    tally = label(args, services, truth)
    outcome = retrain(
        args, services.registry, ["--labels-url", services.label_url, "--labels-username", ADMIN]
    )
    if outcome.get("promoted"):
        want = outcome["challenger_version"]
        wait_for(lambda: services.served_version() == want, 120, f"rbc serve to load {want}")
    return {
        "round": n,
        "labelled_this_round": tally["labelled"],
        "wrong_votes": tally["wrong"],
        "labelled": (outcome.get("labels") or {}).get("count", outcome.get("labels")),
        **{k: outcome.get(k) for k in ROUND_KEYS},
        "champion_roc_auc": outcome.get("champion_roc_auc"),
        "challenger_roc_auc": outcome.get("challenger_roc_auc"),
        "served_before": before,
        "served_after": services.served_version(),
    }


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Seed v1, start the services, run the rounds, check the last batch; the JSON summary."""
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "run.yaml").write_text(RUN_YAML.format(epochs=args.epochs, min_updates=args.min_updates))
    registry = args.work / "registry"
    seed = seed_champion(args, registry)
    services = Services(args, Topics(args.bootstrap), registry)
    try:
        services.start()
        pid = services.serve.pid
        rounds, truth = [], []
        batch, ids = simulate_batch(args, "round-1", 1, args.alerts_per_round)
        replay_and_score(args, services.topics, batch, ids)
        for n in range(1, args.rounds + 1):
            truth.append(batch / "truth.csv")
            summary = run_round(args, services, n, truth)
            name = f"round-{n + 1}" if n < args.rounds else "check"
            size = args.alerts_per_round if n < args.rounds else args.check_alerts
            batch, ids = simulate_batch(args, name, n + 1, size)
            summary["next_batch_scored_by"] = dict(replay_and_score(args, services.topics, batch, ids))
            rounds.append(summary)
        services.check_alive()
        same_process = services.serve.pid == pid and services.serve.poll() is None
    finally:
        services.stop()
    return summarise(args, seed, rounds, pid, same_process)


def summarise(
    args: argparse.Namespace, seed: dict[str, Any], rounds: list[dict[str, Any]], pid: int, same: bool
) -> dict[str, Any]:
    last = rounds[-1]
    registry = ModelRegistry(args.work / "registry")
    if args.curve_out is not None:
        run_dir = (
            registry.root / "runs" / str(json.loads((registry.root / "runs.json").read_text())[-1]["run_id"])
        )
        args.curve_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(run_dir / "learning_curve.png", args.curve_out)
    challenger = last["challenger_version"] if last["promoted"] else None
    return {
        **{k: v for k, v in last.items() if k not in ("round", "served_before", "served_after")},
        "scored_by_challenger": last["next_batch_scored_by"].get(challenger, 0) if challenger else 0,
        "served_before": last["served_before"],
        "served_after": last["served_after"],
        "serve_pid": pid,
        "serve_same_process": same,
        "current": registry.current_version(),
        "seed_champion": {
            "labels": args.seed_labels,
            "roc_auc": seed.get("challenger_roc_auc"),
            "gated": bool(seed.get("promoted")),
        },
        "rounds": rounds,
        "registry": str(registry.root),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rbc1000.train.retrain.loop_demo", description=__doc__)
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap address")
    p.add_argument("--work", required=True, type=Path, help="work directory (registry, batches, logs)")
    p.add_argument(
        "--alerts", type=Path, default=Path("tests/data/alerts"), help="source alerts for simulate"
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--alerts-per-round", type=int, default=400)
    p.add_argument("--check-alerts", type=int, default=100, help="alerts replayed after the last round")
    p.add_argument("--seed-labels", type=int, default=120, help="simulated labels v1 is trained on")
    p.add_argument("--error-rate", type=float, default=0.05, help="the scripted labeller's mistakes")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--min-updates", type=int, default=300)
    p.add_argument("--min-eval", type=int, default=5)
    noisy = "calibration error the challenger may add (evaluation sets of a few dozen are noisy)"
    p.add_argument("--ece-tolerance", type=float, default=0.05, help=noisy)
    p.add_argument("--band-purity", type=float, default=0.99, help="wide bands: more alerts to label")
    p.add_argument(
        "--idle-s", type=float, default=8.0, help="the labeller stops after an empty queue this long"
    )
    p.add_argument("--timeout-s", type=float, default=300.0, help="wait for a batch to be scored at most")
    p.add_argument("--curve-out", type=Path, default=None, help="copy the learning curve PNG here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        summary = run_demo(args)
    except DemoError as exc:
        print(f"loop_demo: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
