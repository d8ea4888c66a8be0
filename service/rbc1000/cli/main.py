"""`rbc`: the service's command line (inspect, score, serve, replay)."""

from __future__ import annotations

import sys

from rbc1000.cli.dispatch import dispatch

COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("rbc1000.cli.inspect", "decode alert files and print one row (or JSON line) per alert"),
    "score": ("rbc1000.cli.score", "score alert files with an ONNX model, no broker needed"),
    "serve": ("rbc1000.cli.serve", "consume alerts from Kafka, score them and publish the results"),
    "replay": ("rbc1000.cli.replay", "publish alert files into a Kafka topic at a chosen rate"),
    "peek": ("rbc1000.cli.peek", "print the scored records (or dead letters) on a topic"),
    "config": (
        "rbc1000.cli.config",
        "show the effective settings of serve, secrets masked, with their sources",
    ),
    "label": ("rbc1000.label.cli", "the labelling web app: serve, useradd, import, export"),
    "models": ("rbc1000.cli.models", "a model registry: list, show, rollback, import"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch(
        "rbc", "RB-C1000 real/bogus classifier for ZTF, Rubin/LSST and WFST alert streams.", COMMANDS, argv
    )


if __name__ == "__main__":
    sys.exit(main())
