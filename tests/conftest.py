"""Fixtures shared by unit and integration tests: where the real alerts are."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENDORED = ROOT / "tests" / "data" / "alerts"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def vendored_alerts() -> Path:
    """The real alerts vendored into the repository (always present)."""
    return VENDORED


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full real-alert corpus beside the checkout; skipped where it does not exist."""
    if not (SHARED_DATA / "ztf_alerts_manifest.csv").exists():
        pytest.skip(f"{SHARED_DATA} is absent: the full-corpus tests need ../shared/data")
    return SHARED_DATA


def read_manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
