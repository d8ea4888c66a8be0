"""Benchmark: the labelling page's render time with 100,000 alerts stored, and ingest speed.

Fills a fresh database with `--alerts` alerts (the first `--with-packets` nearest the
threshold carry a real ZTF packet, so each rendered page decodes one; the rest carry none
to keep the file small), then times `GET /label` in-process (Starlette's TestClient: the
routing, session check, queue and progress queries, packet check and template), casting a
skip between renders so that each render shows a new alert. Ingest is timed on Confluent-
framed labelling records through the path the Kafka consumer uses, without the broker.
Prints one JSON object. Targets: p99 < 200 ms on SQLite; ingest >= 500 records/s.

    python bench/label.py [--alerts 100000] [--renders 300] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

# The labelling records are the tests' own factory: run from the checkout, not an install.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rbc1000.label.app import create_app
from rbc1000.label.ingest import Ingester, IngestReport
from rbc1000.label.settings import LabelSettings
from rbc1000.label.store import Store
from rbc1000.stream.records import ScoredRecord, encode_kafka
from tests.unit.label.factory import FIRST_ID, add_account, login, scored_record

THRESHOLD = 0.8


def fill(store: Store, ingester: Ingester, alerts: int, with_packets: int, batch: int = 5000) -> None:
    """Store `alerts` alerts; a real packet on the first `with_packets` in queue order."""
    template = ingester.rows([("bench", scored_record(0, THRESHOLD))], IngestReport())[0]
    for start in range(0, alerts, batch):
        rows = [
            replace(
                template,
                alert_id=str(FIRST_ID + n + 1),
                distance=n / alerts,
                packet=template.packet if n < with_packets else None,
            )
            for n in range(start, min(start + batch, alerts))
        ]
        store.add_alerts(rows)


def time_renders(settings: LabelSettings, store: Store, renders: int) -> dict[str, float]:
    add_account(store, "bench")
    timings: list[float] = []
    with TestClient(create_app(settings, store), base_url="http://127.0.0.1") as client:
        csrf = login(client, "bench")
        for _ in range(renders):
            start = time.perf_counter()
            page = client.get("/label")
            timings.append((time.perf_counter() - start) * 1000)
            alert = re.search(r'id="alert-id">([^<]*)<', page.text)
            assert alert is not None, "queue ran dry"
            client.post("/vote", data={"alert_id": alert[1], "label": "skip", "csrf": csrf})
    timings.sort()
    return {
        "render_p50_ms": round(statistics.median(timings), 2),
        "render_p99_ms": round(timings[min(len(timings) - 1, int(0.99 * len(timings)))], 2),
    }


def time_ingest(ingester: Ingester, records: int, batch: int = 500) -> float:
    framed = []
    for n in range(records):
        fields = scored_record(10_000_000 + n, 0.75)
        framed.append((f"bench:{n}", encode_kafka(ScoredRecord(**fields))))
    report = IngestReport()
    start = time.perf_counter()
    for i in range(0, records, batch):
        ingester.store_rows(ingester.rows(framed[i : i + batch], report), report)
    assert report.stored == records
    return round(records / (time.perf_counter() - start), 1)


def run(url: str, alerts: int, with_packets: int, renders: int, ingest_records: int) -> dict[str, Any]:
    settings = LabelSettings(database_url=url, ingest=False, publish=False, threshold=THRESHOLD)
    store = Store.open(url)
    ingester = Ingester(store, THRESHOLD, settings.max_packet_bytes)
    start = time.perf_counter()
    fill(store, ingester, alerts, with_packets)
    result: dict[str, Any] = {"alerts_stored": alerts, "fill_s": round(time.perf_counter() - start, 1)}
    result.update(time_renders(settings, store, renders))
    result["ingest_records_per_s"] = time_ingest(ingester, ingest_records)
    store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--with-packets", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=300)
    parser.add_argument("--ingest-records", type=int, default=2000)
    parser.add_argument("--postgres-url", help="also run on this (empty) PostgreSQL database")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        out["sqlite"] = run(url, args.alerts, args.with_packets, args.renders, args.ingest_records)
    if args.postgres_url:
        out["postgresql"] = run(
            args.postgres_url, args.alerts, args.with_packets, args.renders, args.ingest_records
        )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
