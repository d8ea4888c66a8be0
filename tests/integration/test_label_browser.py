"""The labelling app in real headless Chromium (Debian's, driven by Playwright) on a real broker.

Labelling records go to a labelling topic; the app ingests them, two labellers and an
admin label them in the browser with the keyboard; the test then checks the database
rows, the records on the labels topic, and that the export reads back in the training
loader. It saves a screenshot of the labelling page to docs/label-page.png for the README.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from confluent_kafka import Consumer

from rbc1000.label.app import create_app
from rbc1000.label.export import export_labels
from rbc1000.label.publish import decode_label
from rbc1000.label.settings import LabelSettings
from rbc1000.label.store import Store
from rbc1000.ops.kafka_settings import KafkaSettings
from rbc1000.stream.kafka_io import KafkaProducer, OutputRecord
from rbc1000.stream.records import ScoredRecord, encode_kafka
from rbc1000.train.data.loaders import load_dataset_report
from tests.unit.label.factory import FIRST_ID, PASSWORD, add_account, scored_record

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright (the dev dependency group) is not installed"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "label-page.png"
ALERTS = 22


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(what: str, check: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def _publish_labelling_records(bootstrap: str, topic: str) -> None:
    producer = KafkaProducer({"bootstrap.servers": bootstrap})
    for n in range(1, ALERTS + 1):
        fields = scored_record(n, 0.8 - n / 1000)
        producer.produce(
            OutputRecord(topic, encode_kafka(ScoredRecord(**fields)), fields["alert_id"].encode()),
            lambda: None,
        )
    producer.flush(30)


@pytest.fixture
def app_server(bootstrap: str, tmp_path: Path) -> Iterator[tuple[str, Store, LabelSettings]]:
    run = uuid.uuid4().hex[:8]
    settings = LabelSettings(
        database_url=f"sqlite:///{tmp_path / 'label.sqlite'}",
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        labelling_topic=f"test-labelling-{run}",
        labels_topic=f"test-labels-{run}",
        ingest_group_id=f"test-label-{run}",
        consensus_n=2,
        threshold=0.8,
        publish_interval_s=0.2,
    )
    store = Store.open(settings.database_url)
    for name, role in (("alice", "labeller"), ("bob", "labeller"), ("root", "admin")):
        add_account(store, name, role)
    _publish_labelling_records(bootstrap, settings.labelling_topic)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_for("the server", lambda: server.started)
    try:
        yield f"http://127.0.0.1:{port}", store, settings
    finally:
        server.should_exit = True
        thread.join(60)
        store.close()


def _log_in(browser: Any, base: str, name: str) -> Any:
    page = browser.new_context(viewport={"width": 1000, "height": 720}).new_page()
    page.goto(f"{base}/label")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("#login-button")
    return page


def _key(page: Any, key: str) -> None:
    with page.expect_navigation():
        page.keyboard.press(key)


def _alice_label(alert_id: str) -> str:
    return "real" if int(alert_id) % 2 else "bogus"


def _read_labels(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(out) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            key, value = message.key(), message.value()
            assert key is not None and value is not None
            out.append({"key": key.decode(), **decode_label(value)})
    consumer.close()
    return out


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed: run scripts/test-label-deps.sh (as root)"
)
def test_label_in_the_browser(
    app_server: tuple[str, Store, LabelSettings], bootstrap: str, tmp_path: Path
) -> None:
    base, store, settings = app_server
    _wait_for("the ingest", lambda: sum(store.status_counts().values()) == ALERTS)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        alice = _log_in(browser, base, "alice")
        alice.wait_for_selector("#alert-card img")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        alice.screenshot(path=str(SCREENSHOT), full_page=True)
        voted: dict[str, str] = {}
        for n in range(20):
            shown = alice.inner_text("#alert-id")
            _key(alice, _alice_label(shown)[0])
            voted[shown] = _alice_label(shown)
            if n == 4:  # one undo: the same alert comes back and is labelled again
                _key(alice, "z")
                assert alice.inner_text("#alert-id") == shown
                _key(alice, _alice_label(shown)[0])
        assert alice.inner_text("#done") == "20" and alice.inner_text("#left") == str(ALERTS - 20)
        bob = _log_in(browser, base, "bob")
        agreed, disputed = str(FIRST_ID + 1), str(FIRST_ID + 2)
        assert bob.inner_text("#alert-id") == agreed
        _key(bob, _alice_label(agreed)[0])
        assert bob.inner_text("#alert-id") == disputed
        _key(bob, "r" if _alice_label(disputed) == "bogus" else "b")
        root = _log_in(browser, base, "root")
        root.goto(f"{base}/review")
        items = root.locator(".review-item")
        assert items.count() == 1 and items.first.get_attribute("data-alert-id") == disputed
        with root.expect_navigation():
            items.first.locator("button[value=bogus]").click()
        assert root.locator("#review-empty").count() == 1
        browser.close()
    votes = store.votes_on(str(FIRST_ID + 5))
    assert [(v.username, v.undone_at is not None) for v in votes] == [("alice", True), ("alice", False)]
    assert store.alert(agreed).label == _alice_label(agreed)  # type: ignore[union-attr]
    assert store.alert(disputed).label == "bogus"  # type: ignore[union-attr]
    assert store.status_counts() == {"labelled": 2, "open": ALERTS - 2}
    labels = _read_labels(bootstrap, settings.labels_topic, 2)
    assert sorted((r["key"], r["label"], tuple(r["labellers"])) for r in labels) == [
        (agreed, _alice_label(agreed), ("alice", "bob")),
        (disputed, "bogus", ("root",)),
    ]
    report = export_labels(store, tmp_path / "export")
    loaded = load_dataset_report(report.dataset_spec(tmp_path / "export"))
    assert sorted(loaded.dataset.ids.tolist()) == [f"ztf:{agreed}", f"ztf:{disputed}"]
