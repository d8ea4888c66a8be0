"""Every module here tests `rbc1000.train`, which needs the `train` extra (torch and friends).

Where the extra is not installed, each module is reported as skipped with the reason instead of
failing to import: a core-only environment runs the service tests and says what it left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

# The import names of the `train` extra (with its `viz` part) that these tests reach.
TRAIN_EXTRA = ("torch", "torchvision", "sklearn", "astropy")


class NeedsTrainExtra(pytest.Module):
    """A test module that is skipped, not broken, when an import of the `train` extra is missing."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        for name in TRAIN_EXTRA:
            pytest.importorskip(name, reason=f"{name} is absent: install the `train` extra (--extra train)")
        return super().collect()


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module:
    return NeedsTrainExtra.from_parent(parent, path=module_path)
