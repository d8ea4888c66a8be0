"""The labelling pages through Starlette's TestClient on SQLite: login, CSRF, queue, votes."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from rbc1000.label.ingest import Ingester
from rbc1000.label.store import Store
from tests.unit.label.conftest import ingest
from tests.unit.label.factory import FIRST_ID, add_account, login, scored_record


def _shown_alert(client: TestClient) -> str | None:
    found = re.search(r'id="alert-id">([^<]*)<', client.get("/label").text)
    return None if found is None else found[1]


def test_every_page_but_login_needs_a_session(client: TestClient) -> None:
    for path in ("/label", "/review", "/stamp?alert=1&kind=science", "/"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    assert client.get("/api/queue").status_code == 401
    assert client.get("/login").status_code == 200


def test_login_with_a_wrong_password_is_refused(client: TestClient, store: Store) -> None:
    add_account(store, "alice")
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    response = client.post("/login", data={"username": "alice", "password": "wrong one!", "csrf": csrf[1]})
    assert response.status_code == 401
    assert "rbc_session" not in client.cookies
    assert client.get("/label", follow_redirects=False).status_code == 303


def test_login_then_logout(client: TestClient, store: Store) -> None:
    add_account(store, "alice")
    csrf = login(client, "alice")
    assert client.get("/label", follow_redirects=False).status_code == 200
    client.post("/logout", data={"csrf": csrf})
    assert client.get("/label", follow_redirects=False).status_code == 303


def test_a_change_without_the_csrf_token_is_refused(
    client: TestClient, store: Store, ingester: Ingester
) -> None:
    ingest(ingester, [scored_record(1, 0.8)])
    add_account(store, "alice")
    login(client, "alice")
    alert_id = str(FIRST_ID + 1)
    for data in (
        {"alert_id": alert_id, "label": "real"},
        {"alert_id": alert_id, "label": "real", "csrf": "x"},
    ):
        response = client.post("/vote", data=data)
        assert response.status_code == 403
    assert client.post("/api/vote", json={"alert_id": alert_id, "label": "real"}).status_code == 403
    assert store.votes_on(alert_id) == []
    login_form = client.post("/login", data={"username": "alice", "password": "correct horse battery"})
    assert login_form.status_code == 403


def test_the_queue_puts_uncertain_near_the_threshold_first_then_random(
    client: TestClient, store: Store, ingester: Ingester
) -> None:
    # threshold 0.8: uncertain by distance (0.79, 0.75, 0.6), then random whatever its score.
    records = [
        scored_record(1, 0.6, "uncertain"),
        scored_record(2, 0.8, "random"),
        scored_record(3, 0.79),  # no selection reason: stored as uncertain
        scored_record(4, 0.75, "uncertain"),
    ]
    ingest(ingester, records)
    account = add_account(store, "alice")
    order = [a.alert_id for a in store.next_alerts(account, 10)]
    assert order == [str(FIRST_ID + n) for n in (3, 4, 1, 2)]
    assert store.alert(str(FIRST_ID + 3)).selection_reason == "uncertain"  # type: ignore[union-attr]
    csrf = login(client, "alice")
    seen = []
    for _ in records:
        shown = _shown_alert(client)
        assert shown is not None
        seen.append(shown)
        client.post("/vote", data={"alert_id": shown, "label": "skip", "csrf": csrf})
    assert seen == order
    assert "queue-empty" in client.get("/label").text


def test_vote_and_undo_keep_every_vote(client: TestClient, store: Store, ingester: Ingester) -> None:
    ingest(ingester, [scored_record(1, 0.8), scored_record(2, 0.7)])
    add_account(store, "alice")
    csrf = login(client, "alice")
    first = _shown_alert(client)
    assert first == str(FIRST_ID + 1)
    client.post("/vote", data={"alert_id": first, "label": "real", "csrf": csrf})
    assert store.alert(first).label == "real"  # type: ignore[union-attr]
    assert _shown_alert(client) == str(FIRST_ID + 2)
    page = client.get("/label").text
    assert re.search(r'id="done">1<', page) and re.search(r'id="left">1<', page)
    client.post("/undo", data={"csrf": csrf})
    assert _shown_alert(client) == first
    assert store.alert(first).status == "open"  # type: ignore[union-attr]
    client.post("/vote", data={"alert_id": first, "label": "bogus", "csrf": csrf})
    votes = store.votes_on(first)
    assert [(v.username, v.label, v.undone_at is not None) for v in votes] == [
        ("alice", "real", True),
        ("alice", "bogus", False),
    ]
    assert [e.label for e in store.pending_events()] == ["real", "retracted", "bogus"]


def test_a_crafted_object_id_is_escaped(client: TestClient, store: Store, ingester: Ingester) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    ingest(ingester, [scored_record(1, 0.8, object_id=evil)])
    add_account(store, "alice")
    login(client, "alice")
    page = client.get("/label").text
    assert evil not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "script-src 'nonce-" in client.get("/label").headers["content-security-policy"]


def test_stamps_render_and_a_malformed_packet_gives_an_error_page(
    client: TestClient, store: Store, ingester: Ingester
) -> None:
    ingest(ingester, [scored_record(1, 0.8), scored_record(2, 0.8, raw_packet=b"Obj\x01 not really avro")])
    add_account(store, "alice")
    login(client, "alice")
    good = client.get(f"/stamp?alert={FIRST_ID + 1}&kind=difference&size=large")
    assert good.status_code == 200 and good.content.startswith(b"\x89PNG")
    bad = client.get(f"/stamp?alert={FIRST_ID + 2}&kind=science")
    assert bad.status_code == 422 and "does not decode" in bad.text
    assert client.get(f"/stamp?alert={FIRST_ID + 1}&kind=../../etc/passwd").status_code == 400
    assert client.get("/stamp?alert=../../etc/passwd&kind=science").status_code == 422
    # The broken alert is still shown (with the reason), so it can be skipped.
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/label").text)
    assert csrf is not None
    client.post("/vote", data={"alert_id": str(FIRST_ID + 1), "label": "real", "csrf": csrf[1]})
    page = client.get("/label").text
    assert 'id="stamp-problem"' in page and "does not decode" in page
