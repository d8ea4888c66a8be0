"""The fuzz target's copies of what the Python wrapper sends the native core stay in step."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rbc1000.alerts.alert import Survey
from rbc1000.alerts.surveys import fields_for

ROOT = Path(__file__).resolve().parents[3]
FUZZ = ROOT / "native" / "fuzz"


@pytest.mark.parametrize("survey", ["ztf", "lsst"])
def test_keep_lists_are_the_wrappers(survey: Survey) -> None:
    kept = json.loads((FUZZ / "keep" / f"{survey}.json").read_text())
    assert kept == fields_for(survey)


def test_script_runs_the_target_the_crate_declares() -> None:
    manifest = (FUZZ / "Cargo.toml").read_text()
    (name,) = re.findall(r'^name = "(decode_packet)"', manifest, re.M)
    assert (FUZZ / "fuzz_targets" / f"{name}.rs").is_file()
    script = (ROOT / "scripts" / "fuzz-native.sh").read_text()
    assert re.search(rf"fuzz run .*-O {name}\b", script)
    # a workspace of its own, so cargo never folds it into the extension's build
    assert "[workspace]" in manifest
