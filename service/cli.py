"""`rbc`: the service's command line (inspect, score, serve, replay)."""

from __future__ import annotations

import sys

from service.subcommands import dispatch

COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("service.inspect_cli", "decode alert files and print one row (or JSON line) per alert"),
    "score": ("service.score_cli", "score alert files with an ONNX model, no broker needed"),
    "serve": ("service.serve_cli", "consume alerts from Kafka, score them and publish the results"),
    "replay": ("service.replay_cli", "publish alert files into a Kafka topic at a chosen rate"),
    "peek": ("service.peek_cli", "print the scored records (or dead letters) on a topic"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("rbc", "RB-C1000 real/bogus classifier for ZTF, Rubin/LSST and WFST alert streams.",
                    COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
