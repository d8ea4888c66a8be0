"""`rbc score PATH... --out FILE`: the serving pipeline over alert files, no broker, no GPU needed.

Decodes every packet under the paths (alert files; directories, searched recursively for
*.avro files and tarballs; tarballs) in batches with the decoder `--decode-path` chooses (the
compiled core when installed), scores each batch in one ONNX call with
`rbc1000.model.decisions.score_batch` (exactly what `rbc serve` does per batch) and writes:

- FILE: one scored record per alert, format by extension (.avro with the scored schema and
  the packet bytes, .csv or .jsonl with the same field names and no packet bytes);
- FILE's stem + `.deadletter.jsonl`: one line per record that could not be scored
  (path, record index, ids when known, reason, detail);
- FILE's stem + `.summary.json`: counts per decision, survey and error kind, throughput;
- FILE's stem + `.gallery.png`: the triplets found most real, most bogus and least sure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import IO, Any, TypeVar

from tqdm import tqdm

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure
from rbc1000.alerts.native import BatchDecoder, DecodedItem, DecodePathError, make_batch_decoder
from rbc1000.alerts.sources import Packet, SourcedResult, SourceError, iter_packets
from rbc1000.cli.model_flag import add_model_flag
from rbc1000.model.admission import check_gate
from rbc1000.model.contract import ContractError
from rbc1000.model.decisions import DECISIONS, UNSCORED, DeadLetter, Prepared, ScoredAlert, score_batch
from rbc1000.model.providers import ProviderError
from rbc1000.model.scoring import Scorer
from rbc1000.model.set_reload import check_plan
from rbc1000.model.survey_models import ModelPlan, Serving, as_model_set
from rbc1000.ops.cli_flags import UsageError, add_settings_flags, given_flags
from rbc1000.ops.settings import ScoreSettings, settings_or_error
from rbc1000.stream.records import FORMATS, ScoredRecord, now_ms, open_writer

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `rbc score`: paths, `--out`, and one flag per ScoreSettings field."""
    parser.description = __doc__.split("\n\n", 1)[1] if __doc__ else None
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="alert files (.avro), directories or tarballs (.tar.gz)"
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help=f"scored output file; format by extension: {', '.join(FORMATS)}",
    )
    add_model_flag(parser)
    add_settings_flags(parser, ScoreSettings)


def run(args: argparse.Namespace) -> int:
    """Score the files and print the summary; a usage error for a missing or refused model."""
    settings = settings_or_error(ScoreSettings, given_flags(args, ScoreSettings))
    plan = ModelPlan(settings.bare_model(), settings.survey_models)
    for path in plan.paths():
        if not path.is_file():
            raise UsageError(
                f"model file {path} not found; pass --model, or train and export "
                "one with `rbc-train run` and `rbc-train export`"
            )

    def load(path: Path) -> Scorer:
        scorer = Scorer.load(path, settings.provider, settings.intra_op_threads, settings.io_binding)
        check_gate(scorer, allow_ungated=True)  # files are scored anyway; an ungated model is said
        return scorer

    try:
        decoder = make_batch_decoder(settings.decode_path, limits=settings.decode_limits)
        scorer = check_plan(plan, load)
    except (ContractError, ProviderError, DecodePathError) as exc:
        raise UsageError(str(exc)) from None
    try:
        summary = score_files(
            args.paths,
            args.out,
            scorer,
            settings.batch_size,
            include_packets=settings.include_packet,
            gallery_k=_gallery_size(settings),
            decoder=decoder,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(format_summary(summary))
    return 0


def _gallery_size(settings: ScoreSettings) -> int:
    """The gallery asked for; the default one is left out, with a warning, without the extra.

    Scoring needs only the core install; the picture needs matplotlib (`rbc1000[viz]`). An
    explicit `--gallery N` without it is an error (raised where the import fails).
    """
    if settings.gallery == 0 or "gallery" in settings.model_fields_set or find_spec("matplotlib"):
        return settings.gallery
    log.warning("gallery_skipped reason=viz_extra_missing hint=\"pip install 'rbc1000[viz]'\"")
    return 0


def output_paths(out: Path) -> dict[str, Path]:
    """Where the scored records and their companions go."""
    stem = out.with_suffix("")
    return {
        "scored": out,
        "dead_letters": Path(f"{stem}.deadletter.jsonl"),
        "summary": Path(f"{stem}.summary.json"),
        "gallery": Path(f"{stem}.gallery.png"),
    }


@dataclass
class Tally:
    """Running counts for the summary."""

    packets: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    surveys: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, survey: str, kind: str) -> None:  # kind: scored, unscored or dead_lettered
        self.surveys.setdefault(survey, Counter())[kind] += 1


T = TypeVar("T")


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def decoded_batches(
    paths: list[str], decoder: BatchDecoder, version: str, size: int
) -> Iterator[tuple[list[SourcedResult], Prepared]]:
    """The records under `paths`, in order, with their triplets of preprocessing `version`,
    decoded `size` packets per call; an unreadable file gives one DecodeFailure with an empty
    packet."""
    for chunk in _batches(iter_packets(paths), size):
        packets = [item for item in chunk if isinstance(item, Packet)]
        batch = decoder.decode_batch([p.data for p in packets], version)
        by_packet: list[list[DecodedItem]] = [[] for _ in packets]
        for decoded in batch.items:
            by_packet[decoded.message].append(decoded)
        records: list[SourcedResult] = []
        rows: list[int | DecodeError | None] = []
        position = 0
        for item in chunk:
            if isinstance(item, SourceError):
                records.append(SourcedResult(Packet(item.path, b""), 0, DecodeFailure(0, item.error)))
                rows.append(None)
                continue
            for index, decoded in enumerate(by_packet[position]):
                records.append(SourcedResult(item, index, decoded.result))
                rows.append(decoded.row if decoded.row is not None else decoded.triplet_error)
            position += 1
        yield records, Prepared(batch.triplets, rows, version)


def score_files(
    paths: list[str],
    out: Path,
    scorer: Serving,
    batch_size: int,
    include_packets: bool = True,
    gallery_k: int = 4,
    decoder: BatchDecoder | None = None,
) -> dict[str, Any]:
    """Score every alert under `paths` into `out` and its companions; returns the summary.

    `decoder` defaults to `make_batch_decoder("auto")`."""
    files = output_paths(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    highlights = None
    if gallery_k > 0:
        from rbc1000.viz.highlights import Highlights  # matplotlib only when a picture is asked

        highlights = Highlights(gallery_k, scorer.info.threshold)
    started = time.perf_counter()
    version = scorer.info.preprocessing_version
    batches = decoded_batches(paths, decoder or make_batch_decoder("auto"), version, batch_size)
    with (
        open_writer(out, include_packets) as writer,
        files["dead_letters"].open("w") as dead,
        tqdm(unit=" alerts", desc="scoring", disable=None, file=sys.stderr) as bar,
    ):
        for records, prepared in batches:
            for start in range(0, len(records), batch_size):  # a container may hold many alerts
                part = records[start : start + batch_size]
                rows = Prepared(prepared.triplets, prepared.rows[start : start + batch_size], version)
                outcomes = score_batch([r.result for r in part], scorer, prepared=rows)
                scored_at = now_ms()
                for item, outcome in zip(part, outcomes, strict=True):
                    tally.packets += item.record_index == 0
                    if isinstance(outcome, DeadLetter):
                        _write_dead_letter(dead, item, outcome, tally)
                        continue
                    packet = item.packet.data if include_packets else None
                    writer.write(ScoredRecord.build(outcome, scorer.info, packet, scored_at))
                    _count_scored(outcome, tally, highlights)
            bar.update(len(records))
    seconds = time.perf_counter() - started
    if highlights is not None and len(highlights):
        from rbc1000.viz.highlights import render

        render(highlights, scorer.info, files["gallery"])
    else:
        files.pop("gallery")
    summary = _summary(tally, scorer, seconds, files)
    files["summary"].write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _count_scored(scored: ScoredAlert, tally: Tally, highlights: Any) -> None:
    tally.decisions[scored.decision] += 1
    if scored.p_real is None:  # no model judges its survey: no verdict, no place in the gallery
        tally.add(scored.alert.survey, "unscored")
        return
    tally.add(scored.alert.survey, "scored")
    if highlights is not None:
        highlights.offer(scored)


def _write_dead_letter(fo: IO[str], item: SourcedResult, dead: DeadLetter, tally: Tally) -> None:
    alert = item.result if isinstance(item.result, Alert) else None
    entry = {
        "path": item.packet.path,
        "record_index": item.record_index,
        "alert_id": None if alert is None else str(alert.alert_id),
        "object_id": None if alert is None else alert.object_id,
        "survey": None if alert is None else alert.survey,
        "reason": dead.reason,
        "detail": dead.detail,
    }
    fo.write(json.dumps(entry) + "\n")
    tally.errors[dead.reason] += 1
    tally.add(alert.survey if alert is not None else "unknown", "dead_lettered")


def _summary(tally: Tally, scorer: Serving, seconds: float, files: dict[str, Path]) -> dict[str, Any]:
    models = as_model_set(scorer)
    unscored = tally.decisions.get(UNSCORED, 0)
    scored = sum(tally.decisions.values()) - unscored
    dead = sum(tally.errors.values())
    return {
        "model": {
            "name": models.info.name,
            "version": models.info.version,
            "provider": models.provider,
            "path": str(models.primary.path),
        },
        "models_by_survey": {
            s: {"name": m.info.name, "version": m.info.version, "path": str(m.path)}
            for s, m in sorted(models.by_survey.items())
        },
        "packets": tally.packets,
        "records": scored + unscored + dead,
        "scored": scored,
        "unscored": unscored,
        "dead_lettered": dead,
        "decisions": {d: tally.decisions.get(d, 0) for d in (*DECISIONS, UNSCORED)},
        "surveys": {s: dict(c) for s, c in sorted(tally.surveys.items())},
        "errors": dict(tally.errors.most_common()),
        "seconds": round(seconds, 3),
        "records_per_s": round((scored + unscored + dead) / seconds, 1) if seconds > 0 else None,
        "outputs": {k: str(v) for k, v in files.items()},
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few readable lines."""
    model = summary["model"]
    lines = [
        f"model      {model['name']} {model['version']} on {model['provider']}",
        f"records    {summary['records']} in {summary['packets']} packets: "
        f"{summary['scored']} scored, {summary['unscored']} unscored (no model for their survey), "
        f"{summary['dead_lettered']} dead-lettered",
        "judged by  "
        + (
            ", ".join(f"{s}: {m['name']} {m['version']}" for s, m in summary["models_by_survey"].items())
            or "none"
        ),
        "decisions  " + ", ".join(f"{k} {v}" for k, v in summary["decisions"].items()),
        "surveys    "
        + "; ".join(
            f"{s}: " + ", ".join(f"{k} {v}" for k, v in c.items()) for s, c in summary["surveys"].items()
        ),
        "errors     " + (", ".join(f"{k} {v}" for k, v in summary["errors"].items()) or "none"),
        f"throughput {summary['records_per_s']} records/s ({summary['seconds']} s)",
    ]
    lines += [f"wrote      {v}" for v in summary["outputs"].values()]
    return "\n".join(lines)
