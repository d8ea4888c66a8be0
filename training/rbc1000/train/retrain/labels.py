"""The human labels a retraining run learns from: a snapshot read from the labelling app or an export.

Both sources end as the export format of `rbc label export` (`packets/<alert_id>.avro` and
`labels.csv`), which the training loader reads as `alerts:DIR/packets?labels=DIR/labels.csv`.
From the app (its JSON API: `/api/login`, `/api/export`, `/api/packet`), packets are kept in
`<registry>/labels/packets/` (an alert's packet never changes, so it is fetched once) and
the labels file is rewritten whole under a temporary name at every run. The snapshot's
fingerprint covers the (alert id, label) pairs, so a run can tell that nothing changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABEL_FIELDS = ("alert_id", "label", "survey", "labeller", "labelled_at")


class LabelSourceError(RuntimeError):
    """The labels could not be read (app unreachable, login refused, malformed export)."""


@dataclass(frozen=True)
class LabelSnapshot:
    """The consensus labels of one moment and the dataset spec that loads them with their packets."""

    rows: list[dict[str, str]]
    spec: str
    source: str

    @property
    def count(self) -> int:
        return len(self.rows)

    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the sorted `alert_id,label` pairs."""
        pairs = sorted(f"{r['alert_id']},{r['label']}" for r in self.rows)
        return hashlib.sha256("\n".join(pairs).encode()).hexdigest()[:16]


def _read_rows(labels_csv: Path) -> list[dict[str, str]]:
    with labels_csv.open(newline="") as fh:
        rows = [{k: str(r.get(k) or "") for k in LABEL_FIELDS} for r in csv.DictReader(fh)]
    return [r for r in rows if r["label"] in ("real", "bogus") and r["alert_id"].isdigit()]


def snapshot_from_dir(directory: Path) -> LabelSnapshot:
    """The labels of an export directory (`rbc label export --out DIR`)."""
    labels = directory / "labels.csv"
    if not labels.is_file() or not (directory / "packets").is_dir():
        raise LabelSourceError(f"{directory} is not a labels export (needs labels.csv and packets/)")
    spec = f"alerts:{directory / 'packets'}?labels={labels}"
    return LabelSnapshot(_read_rows(labels), spec, f"export:{directory}")


class LabelApi:
    """A client of the labelling app's JSON API with a bearer token (admin account for export)."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.token: str | None = None

    def _request(self, path: str, body: dict[str, Any] | None = None) -> bytes:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return bytes(response.read())
        except OSError as exc:  # URLError and HTTPError are OSErrors
            raise LabelSourceError(f"labelling app {self.base_url}{path.split('?')[0]}: {exc}") from None

    def login(self, username: str, password: str) -> str:
        answer = json.loads(self._request("/api/login", {"username": username, "password": password}))
        self.token = str(answer["token"])
        return str(answer.get("role", ""))

    def export_rows(self, page: int = 1000) -> list[dict[str, Any]]:
        """Every settled label, paging by alert id until `next_after` is null."""
        rows: list[dict[str, Any]] = []
        after = ""
        while True:
            query = urllib.parse.urlencode({"limit": page, **({"after": after} if after else {})})
            answer = json.loads(self._request(f"/api/export?{query}"))
            rows += answer["labels"]
            if not answer.get("next_after"):
                return rows
            after = str(answer["next_after"])

    def packet(self, alert_id: str) -> bytes:
        return self._request(f"/api/packet?{urllib.parse.urlencode({'alert': alert_id})}")

    def queue(self, limit: int = 10) -> list[dict[str, Any]]:
        """The logged-in user's next alerts to label (`/api/queue`)."""
        return list(json.loads(self._request(f"/api/queue?limit={limit}"))["alerts"])

    def vote(self, alert_id: str, label: str) -> dict[str, Any]:
        """Cast a vote (`real`, `bogus`, `unsure`, `skip`); the app's `{"status", "label"}`."""
        return dict(json.loads(self._request("/api/vote", {"alert_id": alert_id, "label": label})))


def snapshot_from_api(api: LabelApi, store: Path) -> LabelSnapshot:
    """Fetch the labels and any packets not yet kept under `store`; write `store/labels.csv`."""
    packets = store / "packets"
    packets.mkdir(parents=True, exist_ok=True)
    rows = []
    for row in api.export_rows():
        alert_id = str(row.get("alert_id", ""))
        if not alert_id.isdigit() or row.get("label") not in ("real", "bogus"):
            continue  # file names come from decimal ids only; retractions are not labels
        path = packets / f"{alert_id}.avro"
        if not path.is_file():
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(api.packet(alert_id))
            os.replace(tmp, path)
        rows.append({k: str(row.get(k) or "") for k in LABEL_FIELDS})
    labels = store / "labels.csv"
    tmp = labels.with_name(".labels.csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=LABEL_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, labels)
    return LabelSnapshot(rows, f"alerts:{packets}?labels={labels}", f"api:{api.base_url}")
