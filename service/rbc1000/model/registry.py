"""A model registry: a directory of immutable model versions and one atomically swapped pointer.

    DIR/versions/<version>/model.onnx     the model; never changed once the version exists
    DIR/versions/<version>/lineage.json   parent, labels, data, config, git revision, gate
    DIR/current -> versions/<version>     a relative symbolic link, replaced by rename(2)
    DIR/pointer.jsonl                     every move of `current`: when, from, to and why

`DIR/current/model.onnx` is therefore an ordinary model path (`rbc serve --model-registry DIR`
serves it, `--model DIR/current/model.onnx` works too), and what must stay true is that a
reader of it sees one complete version, old or new, never a mix or a partial file:
- a version is written under a temporary directory name, synced, then renamed into
  `versions/` in one step, so a listed version is always whole;
- `current` moves by creating a new link under a temporary name and renaming it over the old
  one, which POSIX makes atomic.
Other files the retraining job keeps here (`evaluation.json`, `runs.json`) are written with
`write_json_atomic`, the same temporary-name-and-rename rule.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MODEL_FILE = "model.onnx"
LINEAGE_FILE = "lineage.json"
CURRENT = "current"
VERSIONS = "versions"
POINTER_LOG = "pointer.jsonl"
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_NUMBERED = re.compile(r"^v(\d+)$")


class RegistryError(ValueError):
    """The registry cannot do what was asked (unknown version, bad name, version exists)."""


def now_iso() -> str:
    """The current UTC time as ISO 8601 with a `Z`, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def current_model_path(root: str | os.PathLike[str]) -> Path:
    """The path a service reads to serve the registry's current version."""
    return Path(root) / CURRENT / MODEL_FILE


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON under a temporary name in the same directory, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    _write_synced(tmp, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    os.replace(tmp, path)


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: its name, directory and lineage record."""

    version: str
    directory: Path
    lineage: dict[str, Any]

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE


def _order(version: str) -> tuple[int, str]:
    match = _NUMBERED.match(version)
    return (int(match.group(1)), "") if match else (1 << 30, version)


class ModelRegistry:
    """The registry at `root` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def versions_dir(self) -> Path:
        return self.root / VERSIONS

    def versions(self) -> list[ModelVersion]:
        """Every complete version, v1, v2, ... first, then other names alphabetically."""
        if not self.versions_dir.is_dir():
            return []
        names = [
            d.name
            for d in self.versions_dir.iterdir()
            if d.is_dir() and _VERSION_NAME.match(d.name) and (d / MODEL_FILE).is_file()
        ]
        return [self.get(n) for n in sorted(names, key=_order)]

    def get(self, version: str) -> ModelVersion:
        """The version called `version`; RegistryError when there is none."""
        if not _VERSION_NAME.match(version):
            raise RegistryError(f"{version!r} is not a version name (letters, digits, . _ -)")
        directory = self.versions_dir / version
        if not (directory / MODEL_FILE).is_file():
            known = ", ".join(v.version for v in self.versions()) or "none"
            raise RegistryError(f"{self.root} has no version {version!r} (versions: {known})")
        lineage_path = directory / LINEAGE_FILE
        lineage = json.loads(lineage_path.read_text()) if lineage_path.is_file() else {}
        return ModelVersion(version, directory, dict(lineage))

    def current_version(self) -> str | None:
        """The version `current` points at, or None when nothing was promoted yet."""
        try:
            target = os.readlink(self.root / CURRENT)
        except OSError:
            return None
        return Path(target).name

    def current(self) -> ModelVersion | None:
        version = self.current_version()
        return None if version is None else self.get(version)

    def next_version(self) -> str:
        """`v<n+1>` after the highest numbered version (v1 for an empty registry)."""
        numbers = [_order(v.version)[0] for v in self.versions() if _NUMBERED.match(v.version)]
        return f"v{max(numbers, default=0) + 1}"

    def add(self, model: bytes, lineage: dict[str, Any], version: str | None = None) -> ModelVersion:
        """Write a new version (model and lineage) atomically; it is not made current."""
        version = version or self.next_version()
        if not _VERSION_NAME.match(version):
            raise RegistryError(f"{version!r} is not a version name (letters, digits, . _ -)")
        final = self.versions_dir / version
        if final.exists():
            raise RegistryError(f"{self.root} already has version {version!r}; versions never change")
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        staging = self.versions_dir / f".staging-{version}-{uuid.uuid4().hex}"
        staging.mkdir()
        record = {"version": version, "created_at": now_iso(), **lineage}
        _write_synced(staging / MODEL_FILE, model)
        _write_synced(staging / LINEAGE_FILE, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        _fsync_dir(staging)
        try:
            os.rename(staging, final)  # fails if another writer created the same version first
        except OSError as exc:
            raise RegistryError(f"could not add version {version!r}: {exc}") from exc
        _fsync_dir(self.versions_dir)
        return self.get(version)

    def point(self, version: str, why: str) -> str | None:
        """Make `version` current in one atomic rename; returns the version it replaced."""
        self.get(version)  # refuses an unknown or incomplete version
        previous = self.current_version()
        link = self.root / f".{CURRENT}-{uuid.uuid4().hex}"
        os.symlink(Path(VERSIONS) / version, link)
        os.replace(link, self.root / CURRENT)
        _fsync_dir(self.root)
        entry = {"at": now_iso(), "from": previous, "to": version, "why": why}
        with (self.root / POINTER_LOG).open("a") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
        return previous

    def promote(self, model: bytes, lineage: dict[str, Any], why: str) -> ModelVersion:
        """Add a new version and make it current (the version is whole before the pointer moves)."""
        added = self.add(model, lineage)
        self.point(added.version, why)
        return added

    def pointer_log(self) -> list[dict[str, Any]]:
        """Every move of `current`, oldest first."""
        path = self.root / POINTER_LOG
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
