"""A scripted labeller: answers the labelling app's queue from simulated truth, with mistakes.

    echo "$PASSWORD" | python -m rbc1000.train.retrain.scripted_labeller \
        --url http://127.0.0.1:8300 --username bot --truth sim/truth.csv --error-rate 0.05

It logs in through the JSON API (the password is one line on stdin, never argv), takes
alerts from `/api/queue` and votes each alert's true label (`truth.csv` of
`rbc-train simulate --format avro`), flipped with probability `--error-rate`. Whether an
alert's vote is flipped depends only on the seed and the alert id, so a rerun makes the same
mistakes. Alerts missing from the truth are skipped. It stops after `--max-labels` votes, or
when the queue has stayed empty for `--idle-s` seconds (the ingest may still be catching up),
and prints one JSON line: labelled, real, bogus, wrong, skipped, refused.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rbc1000.train.retrain.labels import LabelApi, LabelSourceError

FLIP = {"real": "bogus", "bogus": "real"}


@dataclass
class Tally:
    labelled: int = 0
    real: int = 0
    bogus: int = 0
    wrong: int = 0
    skipped: int = 0
    refused: int = 0


def read_truth(paths: list[Path]) -> dict[str, str]:
    """alert id -> `real` or `bogus`, from one or more truth files."""
    truth: dict[str, str] = {}
    for path in paths:
        with path.open(newline="") as fh:
            truth.update({row["alert_id"]: row["label"] for row in csv.DictReader(fh)})
    return truth


def is_mistake(alert_id: str, seed: int, error_rate: float) -> bool:
    """A deterministic coin per (seed, alert id) that comes up with probability `error_rate`."""
    digest = hashlib.sha256(f"labeller:{seed}:{alert_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < error_rate


def answer(alert_id: str, truth: dict[str, str], seed: int, error_rate: float) -> str:
    """The vote for one alert: its truth, flipped on a mistake; `skip` when the truth is unknown."""
    label = truth.get(alert_id)
    if label not in FLIP:
        return "skip"
    return FLIP[label] if is_mistake(alert_id, seed, error_rate) else label


def label_queue(api: LabelApi, truth: dict[str, str], args: argparse.Namespace) -> Tally:
    """Vote until `max_labels` labels or an empty queue for `idle_s` seconds."""
    tally = Tally()
    idle_since = time.monotonic()
    while tally.labelled < args.max_labels:
        batch = api.queue(min(100, args.max_labels - tally.labelled))
        if not batch:
            if time.monotonic() - idle_since >= args.idle_s:
                break
            time.sleep(0.5)
            continue
        idle_since = time.monotonic()
        for alert in batch:
            _vote_one(api, str(alert["alert_id"]), truth, args, tally)
    return tally


def _vote_one(
    api: LabelApi, alert_id: str, truth: dict[str, str], args: argparse.Namespace, t: Tally
) -> None:
    vote = answer(alert_id, truth, args.seed, args.error_rate)
    try:
        api.vote(alert_id, vote)
    except LabelSourceError:  # 409: the alert's state changed under us (another labeller)
        t.refused += 1
        return
    if vote == "skip":
        t.skipped += 1
        return
    t.labelled += 1
    setattr(t, vote, getattr(t, vote) + 1)
    t.wrong += vote != truth[alert_id]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rbc1000.train.retrain.scripted_labeller", description=__doc__)
    p.add_argument("--url", required=True, help="the labelling app, e.g. http://127.0.0.1:8300")
    p.add_argument("--username", required=True, help="the labeller's account (password on stdin)")
    p.add_argument("--truth", required=True, nargs="+", type=Path, help="truth.csv file(s)")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of votes flipped (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mistakes (default 0)")
    p.add_argument("--max-labels", type=int, default=10**9, help="stop after this many labels")
    p.add_argument("--idle-s", type=float, default=5.0, help="stop after the queue is empty this long")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not 0 <= args.error_rate <= 1:
        print("scripted_labeller: --error-rate must be within [0, 1]", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\n")
    api = LabelApi(args.url)
    try:
        api.login(args.username, password)
        tally = label_queue(api, read_truth(args.truth), args)
    except (LabelSourceError, OSError) as exc:
        print(f"scripted_labeller: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(tally)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
