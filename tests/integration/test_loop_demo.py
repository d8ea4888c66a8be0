"""The closed loop at test scale: `scripts/loop-demo.sh` on the test broker, every stage a real process.

A weak v1 serves (`rbc serve --model-registry`), its uncertain alerts reach `rbc label serve`
through the labelling topic, the scripted labeller answers from the simulated truth, and
`rbc-train retrain` trains v2 on those labels. What must hold: v2 is promoted because it
beats v1 on held-out labels, `current` moved, the same `rbc serve` process loaded v2 without a
restart, and every alert replayed afterwards was scored by v2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rbc1000.model.registry import POINTER_LOG, ModelRegistry
from tests.integration.ops_support import ROOT

BIN = Path(sys.executable).parent
CHECK_ALERTS = 30


def test_labels_promote_a_better_model_that_the_running_service_picks_up(
    bootstrap: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBC_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(BIN.parent),
        LOOP_BOOTSTRAP=bootstrap,
        LOOP_WORK=str(tmp_path),
        ROUNDS="1",
        ALERTS_PER_ROUND="300",
        SEED_LABELS="120",
        EPOCHS="30",
        MIN_UPDATES="200",
        CURVE_OUT=str(tmp_path / "curve.png"),
    )
    done = subprocess.run(
        ["bash", "scripts/loop-demo.sh", "--check-alerts", str(CHECK_ALERTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    assert out["promoted"] is True, out["reasons"]
    assert (out["champion_version"], out["challenger_version"]) == ("v1", "v2")
    assert out["challenger_roc_auc"] > out["champion_roc_auc"]
    assert out["labelled"] >= 50 and out["n_eval"] >= 5

    registry = ModelRegistry(tmp_path / "registry")
    assert registry.current_version() == "v2" == out["current"]
    moves = [json.loads(line) for line in (registry.root / POINTER_LOG).read_text().splitlines()]
    assert [(m.get("from"), m.get("to")) for m in moves][-1] == ("v1", "v2")

    assert out["serve_same_process"] is True  # one PID from start to end: no restart
    assert (out["served_before"], out["served_after"]) == ("v1", "v2")
    assert out["rounds"][0]["next_batch_scored_by"] == {"v2": CHECK_ALERTS}
    assert out["scored_by_challenger"] == CHECK_ALERTS
    assert (tmp_path / "curve.png").stat().st_size > 0
