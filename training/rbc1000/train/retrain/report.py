"""The report of one retraining run: `report.json`, `report.md` and two plots beside them.

The Markdown has the decision and its reasons, champion against challenger (with bootstrap
intervals, per survey, the paper's metrics), the stage table of the challenger's run, and the
learning curve: ROC-AUC on the evaluation set against the number of human labels, over every
run the registry remembers (`runs.json`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rbc1000.train.report.paper_metrics import PAPER_METRICS

FIGURES = ("ROC_AUC", "ECE", "uncertain_share")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _interval(fig: dict[str, Any]) -> str:
    return f"{_fmt(fig['value'])} [{_fmt(fig['low'])}, {_fmt(fig['high'])}]"


def _comparison_lines(comparison: dict[str, Any]) -> list[str]:
    chal, champ = comparison["challenger"], comparison["champion"]
    lines = ["## Champion against challenger (evaluation set, 95% bootstrap intervals)", ""]
    lines += ["| figure | champion | challenger |", "|---|---|---|"]
    for name in FIGURES:
        lines.append(f"| {name} | {_interval(champ[name]) if champ else '-'} | {_interval(chal[name])} |")
    for name in (*PAPER_METRICS, "Sum"):
        theirs = _fmt(champ["paper"][name]) if champ else "-"
        lines.append(f"| {name} (p > 0.5) | {theirs} | {_fmt(chal['paper'][name])} |")
    lines += ["", "Per survey (ROC-AUC / ECE / uncertain share):", ""]
    for survey, fig in chal["per_survey"].items():
        other = (champ or {}).get("per_survey", {}).get(survey)
        theirs = " / ".join(_fmt(other[k]) for k in FIGURES) if other else "-"
        ours = " / ".join(_fmt(fig[k]) for k in FIGURES)
        lines.append(f"- {survey} (n={fig['n']}): champion {theirs}; challenger {ours}")
    return [*lines, "", "![champion against challenger](comparison.png)", ""]


def _stage_lines(stages: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Stages of the challenger's run",
        "",
        "| stage | trained on | best epoch | ROC-AUC (eval) | Sum |",
    ]
    lines.append("|---|---|---|---|---|")
    for s in stages:
        m = s["test_metrics"]
        figures = f"{_fmt(m.get('ROC_AUC'))} | {_fmt(m.get('Sum'))}"
        lines.append(f"| {s['label']} | {s['n_train']} | {s['best_epoch']} | {figures} |")
    return [*lines, ""]


def _curve_lines(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Learning curve (every run of this registry)",
        "",
        "| run | labels | status | champion | challenger |",
    ]
    lines.append("|---|---|---|---|---|")
    for r in runs:
        lines.append(
            f"| {r['run_id']} | {r['labels']['count']} | {r['status']} | "
            f"{_fmt(r.get('champion_roc_auc'))} | {_fmt(r.get('challenger_roc_auc'))} |"
        )
    return [*lines, "", "![learning curve](learning_curve.png)", ""]


def render_markdown(outcome: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    lines = [f"# Retraining run {outcome.get('run_id', '')}", "", f"**{outcome['status']}**", ""]
    lines += [f"- {reason}" for reason in outcome.get("reasons", [])]
    lines += [
        "",
        f"Labels: {outcome['labels']['count']} (fingerprint {outcome['labels']['fingerprint']}); "
        f"training {outcome.get('n_train')}, evaluation {outcome.get('n_eval')}.",
        "",
    ]
    if "comparison" in outcome:
        lines += _comparison_lines(outcome["comparison"])
    if outcome.get("stages"):
        lines += _stage_lines(outcome["stages"])
    return "\n".join(lines + _curve_lines(runs))


def _plots(run_dir: Path, outcome: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "comparison" in outcome:
        fig, axes = plt.subplots(1, len(FIGURES), figsize=(9, 3))
        for ax, name in zip(axes, FIGURES, strict=True):
            for x, who in enumerate(("champion", "challenger")):
                f = (outcome["comparison"][who] or {}).get(name)
                if f and f["value"] is not None:
                    err = [[f["value"] - (f["low"] or f["value"])], [(f["high"] or f["value"]) - f["value"]]]
                    ax.bar(x, f["value"], yerr=err, capsize=4, color=("grey", "tab:blue")[x])
            ax.set_xticks([0, 1], ["champion", "challenger"])
            ax.set_title(name)
        fig.tight_layout()
        fig.savefig(run_dir / "comparison.png", dpi=100)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, style in (("champion_roc_auc", "o--"), ("challenger_roc_auc", "s-")):
        points = [(r["labels"]["count"], r[key]) for r in runs if r.get(key) is not None]
        if points:
            ax.plot(*zip(*points, strict=True), style, label=key.split("_")[0])
    ax.set_xlabel("human labels")
    ax.set_ylabel("ROC-AUC on the evaluation set")
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "learning_curve.png", dpi=100)
    plt.close(fig)


def write_report(run_dir: Path, outcome: dict[str, Any], runs: list[dict[str, Any]]) -> Path:
    """Write report.json, report.md and the plots into `run_dir`; returns the Markdown path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "report.json").write_text(json.dumps(outcome, indent=2, default=str))
    _plots(run_dir, outcome, runs)
    path = run_dir / "report.md"
    path.write_text(render_markdown(outcome, runs))
    return path
