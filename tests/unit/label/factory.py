"""Labelling records built from a real vendored ZTF alert, with fresh ids, for the app's tests."""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from rbc1000.label.auth import add_user
from rbc1000.label.store import Store
from tests.support.alert_factory import container, read_records

TEMPLATE_ALERT = (
    Path(__file__).resolve().parents[2]
    / "data"
    / "alerts"
    / "fink-broker__ztf_v4.02__2481114533215015024.avro"
)
PASSWORD = "correct horse battery"
FIRST_ID = 3_000_000_000_000_000_000


@cache
def _template() -> tuple[dict[str, Any], dict[str, Any]]:
    schema, records = read_records(TEMPLATE_ALERT)
    return schema, records[0]


def packet(alert_id: int, object_id: str) -> bytes:
    """A real ZTF packet (stamps included) re-labelled with this candid and objectId."""
    schema, template = _template()
    record = copy.deepcopy(template)
    record["candid"] = alert_id
    record["candidate"]["candid"] = alert_id
    record["objectId"] = object_id
    return container(schema, [record])


def scored_record(
    n: int,
    p_real: float,
    reason: str | None = None,
    object_id: str | None = None,
    raw_packet: bytes | None = None,
) -> dict[str, Any]:
    """The n-th labelling record: the scored record's fields plus the packet bytes."""
    alert_id = FIRST_ID + n
    object_id = object_id or f"ZTF26lab{n:05d}"
    record: dict[str, Any] = {
        "alert_id": str(alert_id),
        "object_id": object_id,
        "survey": "ztf",
        "mjd": 60000.5 + n,
        "ra": 150.0 + n / 1000,
        "dec": 2.0,
        "band": "r",
        "p_real": p_real,
        "decision": "uncertain",
        "model_name": "rbc-compact",
        "model_version": "test-1",
        "scored_at": 1_760_000_000_000 + n,
        "alert_packet": raw_packet if raw_packet is not None else packet(alert_id, object_id),
    }
    if reason is not None:
        record["selection_reason"] = reason
    return record


def add_account(store: Store, name: str, role: str = "labeller") -> int:
    return add_user(store, name, PASSWORD, role)


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token (read from the label page)."""
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    response = client.post(
        "/login", data={"username": name, "password": password, "csrf": csrf[1]}, follow_redirects=True
    )
    assert response.status_code == 200, response.text
    token = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert token is not None
    return token[1]
