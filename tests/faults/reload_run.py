"""A hot reload under traffic: `rbc serve` scores a round of real alerts with a good model, the
model file is replaced atomically by a bad one, and a second round follows.

The bad models are built from the tiny test model (`tests.support.model_factory`):
`nan_band_model` gives NaN only for scores inside a narrow band, chosen so that the smoke batch
(p_real about 0.003, 0.5, 0.9 and 0.7) and the shipped canary (p_real 0.075 to 0.988 with the
tiny model) stay finite while 7 of the 39 complete vendored alerts (0.038 to 0.067) turn NaN: a
model that passes every check at load and fails on the stream, as in issue 19.
`ReloadRun.tally` splits the scored records by round through their input offsets.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rbc1000.model.contract import OUTPUT_NAME
from rbc1000.stream.records import decode_kafka
from tests.faults.report import CaseReport
from tests.faults.service import Supervised, caught_up, serve_env, supervise
from tests.faults.tally import source, tally
from tests.faults.traffic import create_topics, send
from tests.integration.ops_support import wait_for
from tests.integration.stream_helpers import read_to_end
from tests.integration.stream_setup import StreamTopics
from tests.support.model_factory import tiny_info, tiny_model, write_tiny_model

BATCH = 8
POLL_S = 0.3
RELOAD_TIMEOUT_S = 60.0
CATCH_UP_TIMEOUT_S = 180.0
MAX_STARTS = 3
# p_real of the tiny model that the NaN model turns into NaN (see the module docstring).
NAN_BAND = (0.03, 0.07)
GOOD_VERSION = "good-1"


def nan_band_model(version: str, band: tuple[float, float] = NAN_BAND) -> onnx.ModelProto:
    """The tiny model with p_real replaced by NaN where band[0] < p_real < band[1]."""
    model = tiny_model(tiny_info(version=version))
    for node in model.graph.node:
        node.output[:] = ["p_raw" if o == OUTPUT_NAME else o for o in node.output]
    consts = {"lo": band[0], "hi": band[1], "nan": math.nan}
    for name, value in consts.items():
        model.graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
    model.graph.node.extend(
        [
            helper.make_node("Greater", ["p_raw", "lo"], ["above"]),
            helper.make_node("Less", ["p_raw", "hi"], ["below"]),
            helper.make_node("And", ["above", "below"], ["in_band"]),
            helper.make_node("Where", ["in_band", "nan", "p_raw"], [OUTPUT_NAME]),
        ]
    )
    onnx.checker.check_model(model)
    return model


def replace_atomically(path: Path, data: bytes) -> None:
    """Write beside `path`, then rename over it: the watcher never sees half a file."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass
class ReloadRun:
    """One reload case: its topics, its service and what the metrics said."""

    bootstrap: str
    work: Path
    topics: StreamTopics = field(init=False)
    member: Supervised = field(init=False)
    model: Path = field(init=False)
    round_size: int = 0

    def __post_init__(self) -> None:
        self.model = write_tiny_model(self.work / "model.onnx", tiny_info(version=GOOD_VERSION))
        self.topics = create_topics(self.bootstrap, "faults-reload", partitions=1)
        extra = {"RBC_MODEL_POLL_S": str(POLL_S)}
        self.member = Supervised(
            "serve", self.work, serve_env(self.bootstrap, self.topics, self.model, BATCH, extra)
        )

    def round(self, values: list[bytes]) -> str | None:
        """Send one round and wait until the group committed it; None, or why the stream stopped."""
        self.round_size = len(values)
        send(self.bootstrap, self.topics.input, values, partition=0)
        return supervise(
            [self.member], lambda: caught_up(self.bootstrap, self.topics), CATCH_UP_TIMEOUT_S, MAX_STARTS
        )

    def reload(self, data: bytes) -> None:
        """Replace the model file and wait until the service accepted or refused it."""
        serve = self.member.current
        replace_atomically(self.model, data)
        wait_for(
            lambda: not serve.alive() or self.reloads(("accepted", "refused")) >= 1,
            RELOAD_TIMEOUT_S,
            "the new model accepted or refused",
        )

    def reloads(self, outcomes: tuple[str, ...]) -> float:
        serve = self.member.current
        return sum(serve.total("rbc_model_reloads_total", outcome=o) for o in outcomes)

    def metrics_into(self, report: CaseReport) -> None:
        """The reload counters and the version served, before the service stops."""
        serve = self.member.current
        for outcome in ("accepted", "refused", "rolled_back"):
            report.notes[f"reloads_{outcome}"] = serve.total("rbc_model_reloads_total", outcome=outcome)
        samples = serve.samples().items()
        served = [dict(ls).get("version") for (n, ls), v in samples if n == "rbc_model_info" and v == 1]
        report.notes["serving_version_at_end"] = served

    def log_lines(self, *words: str) -> list[str]:
        """The service's log lines (every run) that name one of `words`, each cut to 300 characters."""
        lines = []
        for serve, _ in self.member.runs:
            for line in serve.log_path.read_text(errors="replace").splitlines():
                if any(w in line for w in words):
                    lines.append(line[-300:])
        return lines

    def tally_into(self, report: CaseReport) -> dict[str, object]:
        """Count the case into `report`; returns what the scored records say per round."""
        result = tally(self.bootstrap, self.topics)
        result.into(report)
        reasons: Counter[str] = Counter(r for rs in result.dead_reasons.values() for r in rs)
        report.notes["dead_letter_reasons"] = dict(reasons)
        report.notes["nonfinite_score_dead_letters"] = reasons.get("nonfinite_score", 0)
        per_round: dict[int, Counter[str]] = {}
        nonfinite = 0
        for message in read_to_end(self.bootstrap, self.topics.scored):
            record = decode_kafka(message.value())
            p_real = record.get("p_real")
            if p_real is not None and not (math.isfinite(p_real) and 0.0 <= p_real <= 1.0):
                nonfinite += 1
            round_no = source(message)[1] // self.round_size
            per_round.setdefault(round_no, Counter())[str(record.get("model_version"))] += 1
        report.notes["scored_nonfinite_p_real"] = nonfinite
        report.notes["model_versions_by_round"] = {k: dict(v) for k, v in sorted(per_round.items())}
        return {"nonfinite": nonfinite, "per_round": per_round}
