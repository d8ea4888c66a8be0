"""Alert packets joined by alert id with a labels file: the service's labelling-loop output.

The labels file is CSV (header `alert_id,label[,labeller,labelled_at]`) or JSON Lines
(`.jsonl`/`.ndjson`, one object per line with the same keys). Labels are 1/0 or real/bogus.
When an alert was labelled more than once the latest `labelled_at` wins (ISO 8601 strings;
without it, the later line). Alerts without a label and labels without an alert are
counted in the load report. These are human labels: proxy is False.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rbc1000.model.preprocessing import PREPROCESSING_VERSION
from rbc1000.train.data.dataset import TripletDataset
from rbc1000.train.data.loaders.alert_stamps import SkipCounter, iter_alert_stamps
from rbc1000.train.data.loaders.common import DatasetError, LoadedDataset, TripletBuilder, parse_label


@dataclass(frozen=True)
class LabelRecord:
    alert_id: int
    label: int
    labeller: str
    labelled_at: str


def _rows(path: Path) -> list[tuple[str, dict[str, object]]]:
    """(where, row) for each CSV row or JSON line."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable labels file ({exc})") from None
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path} line {n}: not JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{path} line {n}: expected a JSON object")
                out.append((f"{path} line {n}", row))
        return out
    reader = csv.DictReader(text.splitlines())
    return [(f"{path} row {n}", dict(r)) for n, r in enumerate(reader, 2)]


def read_labels(path: Path) -> dict[int, LabelRecord]:
    """alert id -> its latest label record."""
    latest: dict[int, LabelRecord] = {}
    for where, row in _rows(path):
        if "alert_id" not in row or "label" not in row:
            raise DatasetError(f"{where}: needs 'alert_id' and 'label' (got {sorted(row)})")
        try:
            alert_id = int(str(row["alert_id"]).strip())
        except ValueError:
            raise DatasetError(f"{where}: alert_id {row['alert_id']!r} is not an integer") from None
        record = LabelRecord(
            alert_id,
            parse_label(row["label"], where),
            str(row.get("labeller") or ""),
            str(row.get("labelled_at") or ""),
        )
        old = latest.get(alert_id)
        if old is None or record.labelled_at >= old.labelled_at:
            latest[alert_id] = record
    if not latest:
        raise DatasetError(f"{path}: no labels in the file")
    return latest


def load_labelled_alerts(
    alert_paths: Iterable[str | Path],
    labels: Path,
    progress: bool = False,
    preprocessing: str = PREPROCESSING_VERSION,
) -> LoadedDataset:
    """Alerts that have a label, as triplets; ids are `<survey>:<alert id>`."""
    wanted = read_labels(labels)
    skipped = SkipCounter.empty()
    found: list[tuple[str, int]] = []
    builder = TripletBuilder(len(wanted), preprocessing)
    stream = iter_alert_stamps(alert_paths, skipped)
    if progress:
        from tqdm import tqdm

        stream = tqdm(stream, desc="reading alerts", unit="alert")
    for item in stream:
        record = wanted.get(item.alert.alert_id)
        if record is None:
            skipped.add("unlabelled_alert", item.path)
            continue
        builder.add(item.science, item.reference, item.difference, item.path)
        found.append((f"{item.alert.survey}:{item.alert.alert_id}", record.label))
    seen = {int(sample_id.split(":")[1]) for sample_id, _ in found}
    for alert_id in sorted(set(wanted) - seen):
        skipped.add("label_without_alert", f"{labels}: alert_id {alert_id}")
    if not found:
        raise DatasetError(
            f"{labels}: none of its {len(wanted)} alert ids matched a readable alert under the given paths"
        )
    x, nonfinite = builder.arrays()
    dataset = TripletDataset(
        x,
        np.array([lab for _, lab in found], dtype=np.int64),
        np.array([i for i, _ in found]),
        np.zeros(len(found), dtype=bool),
        np.full(len(found), "alert"),
        name=f"alerts:{labels.stem}",
    )
    return LoadedDataset(dataset, "labelled-alerts", nonfinite, builder.shapes, skipped.summary())
