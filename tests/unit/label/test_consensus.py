"""Consensus: N agreeing labellers settle an alert, disagreement goes to review, verdicts settle it."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from rbc1000.label.app import create_app
from rbc1000.label.consensus import CastVote, settle
from rbc1000.label.ingest import Ingester
from rbc1000.label.settings import LabelSettings
from rbc1000.label.store import Store
from tests.unit.label.conftest import ingest
from tests.unit.label.factory import FIRST_ID, add_account, login, scored_record


def _votes(*labels: str) -> list[CastVote]:
    return [CastVote(f"u{i}", label, 1000 + i) for i, label in enumerate(labels)]


def test_settle_rules() -> None:
    assert settle(_votes("real"), 1).status == "labelled"
    assert settle(_votes("real"), 2).status == "open"
    two = settle(_votes("bogus", "bogus"), 2)
    assert (two.status, two.label, two.labellers, two.labelled_at) == (
        "labelled",
        "bogus",
        ("u0", "u1"),
        1001,
    )
    assert settle(_votes("real", "bogus"), 2).status == "review"
    assert settle(_votes("real", "unsure"), 2).status == "review"
    assert settle(_votes("skip", "skip"), 1).status == "open"
    assert settle(_votes("unsure"), 1).status == "review"
    verdict = settle([*_votes("real", "bogus"), CastVote("admin", "bogus", 2000, resolution=True)], 2)
    assert (verdict.status, verdict.label, verdict.labellers) == ("labelled", "bogus", ("admin",))


def _client(tmp_settings: LabelSettings, store: Store) -> TestClient:
    return TestClient(create_app(tmp_settings, store), base_url="http://127.0.0.1")


def test_two_labellers_agree_and_a_disagreement_goes_to_review(
    settings: LabelSettings, store: Store, ingester: Ingester
) -> None:
    settings = settings.model_copy(update={"consensus_n": 2})
    ingest(ingester, [scored_record(1, 0.8), scored_record(2, 0.79)])
    for name, role in (("alice", "labeller"), ("bob", "labeller"), ("root", "admin")):
        add_account(store, name, role)
    agreed, disputed = str(FIRST_ID + 1), str(FIRST_ID + 2)
    for name, labels in (("alice", ("real", "real")), ("bob", ("real", "bogus"))):
        with _client(settings, store) as client:
            csrf = login(client, name)
            for alert_id, label in zip((agreed, disputed), labels, strict=True):
                client.post("/vote", data={"alert_id": alert_id, "label": label, "csrf": csrf})
        if name == "alice":
            assert store.alert(agreed).status == "open"  # type: ignore[union-attr]
    assert store.alert(agreed).label == "real"  # type: ignore[union-attr]
    assert store.alert(disputed).status == "review"  # type: ignore[union-attr]
    with _client(settings, store) as client:
        csrf = login(client, "bob")
        assert client.get("/review").status_code == 403
    with _client(settings, store) as client:
        csrf = login(client, "root")
        page = client.get("/review").text
        assert re.findall(r'review-item" data-alert-id="(\d+)"', page) == [disputed]
        assert "alice: real" in page and "bob: bogus" in page
        client.post("/review", data={"alert_id": disputed, "label": "bogus", "csrf": csrf})
        assert "review-empty" in client.get("/review").text
    assert store.alert(disputed).label == "bogus"  # type: ignore[union-attr]
    who = [(v.username, v.label, v.resolution) for v in store.votes_on(disputed)]
    assert who == [("alice", "real", False), ("bob", "bogus", False), ("root", "bogus", True)]
    labelled = {a.alert_id: names for a, names in store.labelled()}
    assert labelled == {agreed: "alice;bob", disputed: "root"}
