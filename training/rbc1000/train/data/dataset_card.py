"""The dataset card: what a dataset is, how it was made, its fixed splits, its measured scores.

Written beside the data as `dataset_card.json` (complete, including the splits by sample id)
and `dataset_card.md` (for people; no id lists). Loaders read the JSON to attach the splits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD_JSON = "dataset_card.json"
CARD_MD = "dataset_card.md"


def read_card(directory: Path) -> dict[str, Any] | None:
    """The card beside a dataset, or None when there is none."""
    path = directory / CARD_JSON
    if not path.exists():
        return None
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable dataset card ({exc}); fix or delete it") from None
    if not isinstance(card, dict):
        raise ValueError(f"{path}: a dataset card must be a JSON object")
    return card


def write_card(directory: Path, card: dict[str, Any]) -> tuple[Path, Path]:
    """Write the JSON and Markdown cards; returns their paths."""
    json_path, md_path = directory / CARD_JSON, directory / CARD_MD
    json_path.write_text(json.dumps(card, indent=1, sort_keys=False) + "\n")
    md_path.write_text(render_markdown(card))
    return json_path, md_path


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _counts_section(card: dict[str, Any]) -> list[str]:
    counts = card.get("counts", {})
    rows = [
        [cls, fam, str(n), "yes" if fam.startswith("alert_drb") else "no"]
        for cls in ("real", "bogus")
        for fam, n in counts.get(cls, {}).items()
    ]
    total = {cls: sum(counts.get(cls, {}).values()) for cls in ("real", "bogus")}
    header = ["class", "family", "samples", "proxy label (ZTF drb)"]
    return ["## Counts", "", f"real {total['real']}, bogus {total['bogus']}.", "", *_table(rows, header), ""]


def _scores_section(card: dict[str, Any]) -> list[str]:
    measured = card.get("measured_difficulty")
    if not measured:
        return [
            "## Measured difficulty",
            "",
            "Not measured yet (`python -m rbc1000.train.data.difficulty`).",
            "",
        ]
    keys = ["Pre", "Acc", "Rec", "F1", "MCC", "AP", "Sum"]
    rows = [
        [name, str(run.get("n_train", "")), *[f"{run['metrics'][k]:.2f}" for k in keys]]
        for name, run in measured.get("runs", {}).items()
    ]
    scored = f"Scored on {measured.get('test_samples')} samples of the test split."
    return [
        "## Measured difficulty",
        "",
        measured.get("protocol", ""),
        "",
        scored,
        "",
        *_table(rows, ["model", "train labels", *keys]),
        "",
    ]


def _mask_section(card: dict[str, Any]) -> list[str]:
    check = card.get("mask_check")
    if not check:
        return []
    verdict = "within" if check["roc_auc"] <= check["limit"] else "ABOVE"
    return [
        "## Mask shortcut check",
        "",
        f"ROC-AUC of a classifier that sees only mask features ({check['features']}; "
        f"{check['classifier']}): **{check['roc_auc']}**, {verdict} the limit {check['limit']}. "
        f"Samples with masked pixels: real {check['masked_share']['real']}, "
        f"bogus {check['masked_share']['bogus']}.",
        "",
    ]


def render_markdown(card: dict[str, Any]) -> str:
    """The human-readable card."""
    lines = [f"# Dataset card: {card.get('name', 'dataset')}", "", card.get("summary", ""), ""]
    lines += [
        "## Format",
        "",
        f"- format: {card.get('format')}",
        f"- files: {', '.join(card.get('files', {}).values())}",
        f"- stamps: {card.get('stamp_layout', '')}",
        f"- preprocessing at load time: {card.get('preprocessing_version')}",
        "",
    ]
    lines += ["## Labels", "", card.get("label_note", ""), ""]
    lines += _counts_section(card)
    recipe = card.get("recipe")
    if recipe:
        lines += [
            "## Recipe",
            "",
            card.get("recipe_text", ""),
            "",
            f"seed {card.get('seed')}; every draw from numpy.random.default_rng([seed, class, index]).",
            "",
            "```json",
            json.dumps(recipe, indent=1),
            "```",
            "",
        ]
    sources = card.get("source_alerts")
    if sources:
        lines += [
            "## Source alerts",
            "",
            f"- read from: {', '.join(sources.get('paths', []))}",
            f"- alerts with usable stamps: {sources.get('n_alerts')}",
            f"- backgrounds: {sources.get('n_backgrounds')} "
            f"({sources.get('n_host_backgrounds')} with a host at the centre)",
            f"- skipped: {json.dumps(sources.get('skipped', {}))}",
            "- ids of every alert used: see dataset_card.json",
            "",
        ]
    splits = card.get("splits")
    if splits:
        lines += [
            "## Splits",
            "",
            f"stratified by class and family, seed {splits.get('seed')}, "
            f"test fraction {splits.get('test_fraction')}: test "
            f"{len(splits.get('test', []))}, pool {len(splits.get('pool', []))} "
            "(ids in dataset_card.json).",
            "",
        ]
    lines += _mask_section(card)
    if card.get("caveats"):
        lines += ["## Caveats", "", *[f"- {c}" for c in card["caveats"]], ""]
    lines += _scores_section(card)
    build = card.get("build")
    if build:
        lines += ["## Build", "", "```json", json.dumps(build, indent=1), "```", ""]
    return "\n".join(lines)
