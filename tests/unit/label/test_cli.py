"""`rbc label useradd|passwd|userdel`: passwords from stdin or the terminal, never argv; one-line
errors with exit 2; a deactivated account keeps its votes and loses its sessions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rbc1000.cli.main import main
from rbc1000.label.auth import authenticate, start_session, token_hash
from rbc1000.label.ingest import Ingester
from rbc1000.label.store import Store, now_ms
from tests.unit.label.conftest import ingest
from tests.unit.label.factory import FIRST_ID, PASSWORD, add_account, scored_record

NEW_PASSWORD = "a much newer secret"


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'label.sqlite'}"
    monkeypatch.setenv("RBC_DATABASE_URL", url)
    return url


def _rbc(monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["label", *argv])


def test_useradd_then_passwd_read_from_stdin(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _rbc(monkeypatch, PASSWORD + "\n", "useradd", "alice", "--role", "admin") == 0
    store = Store.open(db_url)
    user = authenticate(store, "alice", PASSWORD)
    assert user is not None and user.role == "admin"
    token, _ = start_session(store, user, 3600)
    assert _rbc(monkeypatch, NEW_PASSWORD + "\n", "passwd", "alice") == 0
    assert authenticate(store, "alice", PASSWORD) is None
    assert authenticate(store, "alice", NEW_PASSWORD) is not None
    assert store.session(token_hash(token), now_ms()) is None, "a password change ends old sessions"
    assert "password of alice changed" in capsys.readouterr().out


def test_passwd_asks_twice_on_a_terminal(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(db_url)
    add_account(store, "alice")
    answers = iter([NEW_PASSWORD, NEW_PASSWORD + "typo"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt="": next(answers))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    assert main(["label", "passwd", "alice"]) == 2
    assert authenticate(store, "alice", PASSWORD) is not None


@pytest.mark.parametrize(
    ("argv", "stdin", "problem"),
    [
        (["passwd", "nobody"], NEW_PASSWORD, "rbc label: no user nobody"),
        (["passwd", "alice"], "short", "rbc label: passwords have at least 8 characters"),
        (["passwd", "alice", NEW_PASSWORD], "", "unrecognized arguments"),
        (["useradd", "alice"], NEW_PASSWORD, "rbc label: user alice exists"),
        (["userdel", "nobody"], "", "rbc label: no user nobody"),
    ],
)
def test_refused_account_changes_exit_2_with_one_line(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str,
    problem: str,
) -> None:
    add_account(Store.open(db_url), "alice")
    assert _rbc(monkeypatch, stdin + "\n", *argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and problem in err[0], err


def test_userdel_keeps_votes_ends_sessions_and_can_be_undone(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(db_url)
    ingest(Ingester(store, 0.8, 1 << 24), [scored_record(1, 0.8)])
    alice = add_account(store, "alice")
    alert_id = str(FIRST_ID + 1)
    store.vote(alert_id, alice, "real", 1)
    user = authenticate(store, "alice", PASSWORD)
    assert user is not None
    token, _ = start_session(store, user, 3600)
    assert _rbc(monkeypatch, "", "userdel", "alice") == 0
    assert authenticate(store, "alice", PASSWORD) is None
    assert store.session(token_hash(token), now_ms()) is None
    assert [v.label for v in store.votes_on(alert_id)] == ["real"]
    assert store.alert(alert_id).label == "real"  # type: ignore[union-attr]
    assert _rbc(monkeypatch, "", "userdel", "alice", "--reactivate") == 0
    assert authenticate(store, "alice", PASSWORD) is not None


def test_a_bad_setting_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _rbc(monkeypatch, "", "serve", "--consensus-n", "0") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("rbc label: consensus_n:") for line in err), err
