"""Alert packets from files, directories and tarballs, for `rbc inspect`, `rbc score`,
`rbc replay` and the training loaders.

A directory is searched recursively for `*.avro` files and `.tar.gz`/`.tgz` archives (other
files are passed over); inside an archive every regular member is a packet. Each packet
keeps a path that says where it came from (`archive.tar.gz::member` for archive members).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from rbc1000.alerts.alert import DecodeError, DecodeFailure, DecodeResult
from rbc1000.alerts.decoding import Decoder
from rbc1000.reasons import Reason

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
# A member larger than this is not an alert packet; do not read it into memory.
MAX_PACKET_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Packet:
    """The bytes of one message or file and where they came from."""

    path: str
    data: bytes


@dataclass(frozen=True, slots=True)
class SourceError:
    """A path or archive member that could not be read at all."""

    path: str
    error: DecodeError


def is_archive(path: Path) -> bool:
    return path.name.endswith(_ARCHIVE_SUFFIXES)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus `*.avro` and archives found under directories, sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and (p.suffix == ".avro" or is_archive(p)))
            )
        else:
            found.append(path)
    return found


def iter_packets(paths: Iterable[str | Path]) -> Iterator[Packet | SourceError]:
    """Yield every packet under `paths`; unreadable files become `SourceError`, never raise."""
    for path in expand_paths(paths):
        if is_archive(path):
            yield from _archive_packets(path)
            continue
        try:
            yield Packet(str(path), path.read_bytes())
        except OSError as exc:
            yield SourceError(str(path), DecodeError(Reason.UNREADABLE_FILE, str(exc)))


def _archive_packets(path: Path) -> Iterator[Packet | SourceError]:
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if not member.isfile():
                    continue
                name = f"{path}::{member.name}"
                if member.size > MAX_PACKET_BYTES:
                    yield SourceError(name, DecodeError(Reason.TOO_LARGE, f"{member.size} bytes"))
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    yield Packet(name, handle.read())
    except (tarfile.TarError, OSError, EOFError) as exc:
        yield SourceError(str(path), DecodeError(Reason.BAD_ARCHIVE, str(exc)))


class SourcedResult(NamedTuple):
    """One decoded record, the packet it came from and its position inside that packet."""

    packet: Packet
    record_index: int
    result: DecodeResult


def iter_alerts(paths: Iterable[str | Path], decoder: Decoder | None = None) -> Iterator[SourcedResult]:
    """Decode every packet under `paths`: one (packet, index, result) per record.

    An unreadable file yields one DecodeFailure with an empty packet for that path.
    """
    decoder = decoder or Decoder()
    for item in iter_packets(paths):
        if isinstance(item, SourceError):
            yield SourcedResult(Packet(item.path, b""), 0, DecodeFailure(0, item.error))
            continue
        for index, result in enumerate(decoder.decode(item.data)):
            yield SourcedResult(item, index, result)
