"""`rbc label export --out DIR`: the labelled alerts as packets plus a labels file.

    DIR/packets/<alert_id>.avro   the packet bytes exactly as they arrived
    DIR/labels.csv                alert_id,label,labeller,labelled_at, then context columns

which the training loader reads unchanged: `alerts:DIR/packets?labels=DIR/labels.csv`.
File names come from alert ids that are decimal digits only, never from other stream
text; an alert without a stored packet or with a non-numeric id is counted and left out.
The labels file is written to a temporary name and renamed, so a reader never sees half.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rbc1000.label.store import AlertView, Store
from rbc1000.stream.records import iso_utc

LABEL_COLUMNS = (
    "alert_id",
    "label",
    "labeller",
    "labelled_at",
    "survey",
    "object_id",
    "selection_reason",
    "p_real",
    "model_name",
    "model_version",
    "survey_score",
    "survey_score_name",
)


@dataclass
class ExportReport:
    labels: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def dataset_spec(self, out: Path) -> str:
        return f"alerts:{out / 'packets'}?labels={out / 'labels.csv'}"


def iter_labelled(store: Store, page: int = 1000) -> Iterator[tuple[AlertView, str]]:
    """Every settled alert with its labellers, in alert-id order, a page at a time."""
    after = ""
    while True:
        rows = store.labelled(after, page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1][0].alert_id


def label_row(alert: AlertView, labellers: str) -> dict[str, object]:
    return {
        "alert_id": alert.alert_id,
        "label": alert.label,
        "labeller": labellers,
        "labelled_at": "" if alert.labelled_at is None else iso_utc(alert.labelled_at),
        "survey": alert.survey,
        "object_id": alert.object_id,
        "selection_reason": alert.selection_reason,
        "p_real": alert.p_real,
        "model_name": alert.model_name,
        "model_version": alert.model_version,
        "survey_score": "" if alert.survey_score is None else alert.survey_score,
        "survey_score_name": alert.survey_score_name or "",
    }


def export_labels(store: Store, out: Path) -> ExportReport:
    """Write the packets and labels file under `out` (created if needed)."""
    packets = out / "packets"
    packets.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    tmp = out / "labels.csv.tmp"
    with tmp.open("w", newline="") as fo:
        writer = csv.DictWriter(fo, fieldnames=LABEL_COLUMNS)
        writer.writeheader()
        for alert, labellers in iter_labelled(store):
            if not alert.alert_id.isdigit() or not alert.alert_id.isascii():
                report.skipped["non_numeric_alert_id"] += 1
                continue
            packet = store.packet(alert.alert_id)
            if packet is None:
                report.skipped["no_packet"] += 1
                continue
            (packets / f"{alert.alert_id}.avro").write_bytes(packet)
            writer.writerow(label_row(alert, labellers))
            report.labels += 1
    os.replace(tmp, out / "labels.csv")
    return report
