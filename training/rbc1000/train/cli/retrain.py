"""`rbc-train retrain`: one run of the periodic retraining job, or one every `--every`.

Reads consensus human labels (the labelling app's JSON API, or a labels export), trains a
challenger by the RB-C1000 stages, compares it with the registry's champion on the held-out
evaluation set and promotes it only when it passes the gate (`rbc1000.train.retrain.job`).
Prints one JSON line per run. Exit 0 whether it promoted, kept the champion or found no new
labels; 1 on an error (labels unreadable, training failed); 2 on bad settings. With
`--every`, SIGTERM or Ctrl-C between runs stops the loop with exit 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from types import FrameType
from typing import Any

from rbc1000.ops.cli_flags import add_settings_flags, given_flags
from rbc1000.ops.settings import CONFIG_HELP, settings_or_error

log = logging.getLogger("rbc1000.train.retrain")
_SUMMARY = (
    "status",
    "reasons",
    "labels",
    "n_train",
    "n_eval",
    "champion_version",
    "challenger_version",
    "promoted",
    "champion_roc_auc",
    "challenger_roc_auc",
    "run_id",
)


def configure(parser: argparse.ArgumentParser) -> None:
    """One flag per RetrainSettings field (the labelling app's password from env or --config only)."""
    from rbc1000.train.retrain.settings import RetrainSettings

    add_settings_flags(parser, RetrainSettings, config_help=CONFIG_HELP)


def _once(settings: Any) -> int:
    from rbc1000.train.retrain.job import run_once
    from rbc1000.train.retrain.labels import LabelSourceError

    try:
        outcome = run_once(settings)
    except LabelSourceError as exc:
        log.error("retrain_failed error=%s", exc)
        return 1
    except Exception:
        log.exception("retrain_failed")
        return 1
    print(json.dumps({k: outcome.get(k) for k in _SUMMARY if k in outcome}), flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    """Build the settings, then run once or every `--every` until stopped."""
    from rbc1000.train.retrain.settings import RetrainSettings

    settings = settings_or_error(RetrainSettings, given_flags(args, RetrainSettings), args.config)
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    period = settings.every_s()
    if period is None:
        return _once(settings)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop.is_set():
        code = _once(settings)
        if code != 0:
            log.error("retrain_run_failed exit=%d next_in_s=%.0f", code, period)
        stop.wait(period)
    return 0
