"""The model registry: immutable versions, an atomic `current`, and the service following it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from rbc1000.cli.main import main as rbc_main
from rbc1000.model.registry import ModelRegistry, RegistryError, current_model_path
from rbc1000.model.scoring import ModelWatcher
from rbc1000.ops.settings import ScoreSettings
from tests.support.model_factory import tiny_info, tiny_model


def _model_bytes(version: str, scale: float = 1.5) -> bytes:
    return bytes(tiny_model(tiny_info(version=version), scale=scale).SerializeToString())


def test_versions_are_numbered_listed_and_never_overwritten(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "reg")
    assert registry.versions() == [] and registry.current_version() is None
    first = registry.promote(b"one", {"parent": None}, why="test")
    second = registry.promote(b"two", {"parent": first.version}, why="test")
    assert [v.version for v in registry.versions()] == ["v1", "v2"]
    assert registry.current_version() == "v2"
    assert current_model_path(registry.root).read_bytes() == b"two"
    assert second.lineage["parent"] == "v1" and "created_at" in second.lineage
    with pytest.raises(RegistryError):
        registry.add(b"three", {}, version="v1")
    assert registry.get("v1").model_path.read_bytes() == b"one"
    with pytest.raises(RegistryError):
        registry.get("../etc")


def test_rollback_moves_only_the_pointer_and_is_logged(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.promote(b"one", {}, why="first")
    registry.promote(b"two", {}, why="second")
    assert registry.point("v1", why="rollback") == "v2"
    assert current_model_path(tmp_path).read_bytes() == b"one"
    assert [e["to"] for e in registry.pointer_log()] == ["v1", "v2", "v1"]
    with pytest.raises(RegistryError):
        registry.point("v9", why="no such version")
    assert registry.current_version() == "v1"


def test_reader_polling_current_during_promotion_never_sees_a_partial_file(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    payloads = [bytes([n]) * (2 << 20) for n in range(1, 13)]  # 2 MiB each: partial writes would show
    registry.promote(payloads[0], {}, why="first")
    seen: list[bytes] = []
    bad: list[str] = []
    done = threading.Event()

    def reader() -> None:
        path = current_model_path(tmp_path)
        while not done.is_set():
            try:
                data = path.read_bytes()
            except OSError as exc:  # the pointer must always resolve to a whole version
                bad.append(repr(exc))
                continue
            if data not in payloads:
                bad.append(f"partial or mixed read of {len(data)} bytes")
            seen.append(data[:1])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for payload in payloads[1:]:
            registry.promote(payload, {}, why="test")
    finally:
        done.set()
        thread.join()
    assert bad == []
    assert len(seen) > 0
    assert current_model_path(tmp_path).read_bytes() == payloads[-1]


def test_watcher_follows_promotion_and_rollback(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.promote(_model_bytes("v1"), {}, why="first")
    watcher = ModelWatcher(current_model_path(tmp_path), "cpu", intra_op_threads=1)
    assert watcher.poll() is None
    registry.promote(_model_bytes("v2", scale=2.0), {}, why="second")
    swapped = watcher.poll()
    assert swapped is not None and swapped.info.version == "v2"
    assert watcher.poll() is None
    registry.point("v1", why="rollback")
    back = watcher.poll()
    assert back is not None and back.info.version == "v1"


def test_settings_serve_the_registry_current_model(tmp_path: Path) -> None:
    settings = ScoreSettings(model_registry=tmp_path)
    assert settings.model_path == current_model_path(tmp_path)
    with pytest.raises(ValueError, match="not both"):
        ScoreSettings(model_registry=tmp_path, model_path=tmp_path / "m.onnx")


def test_models_cli_list_show_rollback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = ModelRegistry(tmp_path)
    registry.promote(_model_bytes("v1"), {"parent": None, "labels": {"count": 3}}, why="first")
    registry.promote(_model_bytes("v2"), {"parent": "v1"}, why="second")
    assert rbc_main(["models", "list", "--registry", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  v1") and lines[1].startswith("* v2")
    assert rbc_main(["models", "show", "v1", "--registry", str(tmp_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["current"] is False and shown["labels"] == {"count": 3}
    assert rbc_main(["models", "rollback", "v1", "--registry", str(tmp_path)]) == 0
    assert registry.current_version() == "v1"
    assert rbc_main(["models", "rollback", "v7", "--registry", str(tmp_path)]) == 2
    assert "no version 'v7'" in capsys.readouterr().err
    assert registry.current_version() == "v1"


def test_models_cli_import_registers_a_valid_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "m.onnx"
    source.write_bytes(_model_bytes("shipped"))
    reg = tmp_path / "reg"
    assert rbc_main(["models", "import", str(source), "--registry", str(reg), "--make-current"]) == 0
    assert ModelRegistry(reg).current_version() == "v1"
    assert ModelRegistry(reg).get("v1").lineage["gate"] is None
    garbage = tmp_path / "bad.onnx"
    garbage.write_bytes(b"not a model")
    assert rbc_main(["models", "import", str(garbage), "--registry", str(reg)]) == 2
    assert [v.version for v in ModelRegistry(reg).versions()] == ["v1"]
