"""The stage table (Markdown and JSON) and the PNG report of a run directory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from rbc1000.train.report.paper_metrics import ALL_METRICS, PAPER_METRICS, confusion

_PERCENT = set(PAPER_METRICS) | {"std_AP", "ROC_AUC"}


def _cell(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.2f}" if name in _PERCENT else f"{value:.2f}"


def table_markdown(rows: Sequence[tuple[str, dict[str, float | None]]], title: str = "") -> str:
    """A Markdown table: one row per (label, metrics), paper metrics in percent."""
    head = ["Stage", *ALL_METRICS]
    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, metrics in rows:
        lines.append("| " + " | ".join([label, *(_cell(k, metrics.get(k)) for k in ALL_METRICS)]) + " |")
    return "\n".join(lines) + "\n"


def _stage_dirs(run_dir: Path) -> list[Path]:
    dirs = [d for d in (run_dir / "stages").glob("*_*") if (d / "stage.json").is_file()]
    return sorted(dirs, key=lambda d: int(d.name.split("_", 1)[0]))


def load_stages(run_dir: Path) -> list[dict[str, Any]]:
    """Every finished stage's stage.json, with its scores and history, in run order."""
    stages = []
    for d in _stage_dirs(run_dir):
        stage = json.loads((d / "stage.json").read_text())
        stage["scores"] = dict(np.load(d / "scores.npz"))
        stage["history"] = json.loads((d / "history.json").read_text())
        stages.append(stage)
    return stages


def label_efficiency(stages: list[dict[str, Any]]) -> dict[str, Any]:
    """How much of the ITS-to-full-supervision gap in Sum the final stage closes.

    gap_closed_fraction = (final - ITS) / (full - ITS): 1 means the final stage matches full
    supervision, 0 means it is no better than ITS; None when full supervision does not beat
    ITS (nothing to close). Empty without an ITS and a full-supervision stage.
    """
    by_key = {s["key"]: s for s in stages}
    final = next((s for s in reversed(stages) if s["key"] != "full"), None)
    if "its" not in by_key or "full" not in by_key or final is None:
        return {}
    its, full = by_key["its"]["test_metrics"]["Sum"], by_key["full"]["test_metrics"]["Sum"]
    last = final["test_metrics"]["Sum"]
    return {
        "final_stage": final["label"],
        "label_efficiency_gap_sum": full - last,
        "gap_closed_fraction": (last - its) / (full - its) if full > its else None,
    }


def write_table(run_dir: Path, stages: list[dict[str, Any]]) -> str:
    """Write table.md and table.json; return the Markdown."""
    rows = [(s["label"], s["test_metrics"]) for s in stages]
    md = table_markdown(
        rows,
        "Test split; Sum = Pre+Acc+Rec+F1+MCC+AP in percent; "
        "AP is the paper's, std_AP the standard average precision",
    )
    summary: dict[str, Any] = {
        "rows": [
            {
                "stage": s["label"],
                **s["test_metrics"],
                "best_epoch": s["best_epoch"],
                "n_train": s["n_train"],
                "seconds": s["seconds"],
                **s["info"],
            }
            for s in stages
        ]
    }
    gap = label_efficiency(stages)
    if gap:
        summary.update(gap)
        md += f"\nFull supervision minus {gap['final_stage']}: {gap['label_efficiency_gap_sum']:+.2f} in Sum"
        closed = gap["gap_closed_fraction"]
        md += (
            f"; the stages after ITS close {100 * closed:.0f}% of the ITS-to-full-supervision gap.\n"
            if closed is not None
            else ".\n"
        )
    (run_dir / "table.md").write_text(md)
    (run_dir / "table.json").write_text(json.dumps(summary, indent=2))
    return md


def _plot_metrics(stages: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = [s["label"] for s in stages]
    for name in PAPER_METRICS:
        ax.plot(labels, [100 * (s["test_metrics"][name] or 0) for s in stages], "o-", label=name)
    ax.set_ylabel("percent (test split)")
    ax.set_title("Metrics per stage")
    ax.legend(ncols=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_curves(stages: list[dict[str, Any]], path: Path) -> None:
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for s in stages:
        y, p = s["scores"]["test_y"], s["scores"]["test_p"]
        if 0 < y.sum() < y.size:
            fpr, tpr, _ = roc_curve(y, p)
            roc_ax.plot(fpr, tpr, label=s["label"])
            prec, rec, _ = precision_recall_curve(y, p)
            pr_ax.plot(rec, prec, label=s["label"])
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    pr_ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    roc_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _grid(n: int) -> tuple[Any, np.ndarray]:
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    return fig, axes[0]


def _plot_histograms(stages: list[dict[str, Any]], path: Path) -> None:
    fig, axes = _grid(len(stages))
    bins = np.linspace(0, 1, 41)
    for ax, s in zip(axes, stages, strict=True):
        y, p = s["scores"]["test_y"], s["scores"]["test_p"]
        ax.hist(p[y == 0], bins=bins, alpha=0.6, label="bogus", log=True)
        ax.hist(p[y == 1], bins=bins, alpha=0.6, label="real", log=True)
        ax.set(title=s["label"], xlabel="p_real")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_confusions(stages: list[dict[str, Any]], path: Path) -> None:
    fig, axes = _grid(len(stages))
    for ax, s in zip(axes, stages, strict=True):
        cm = confusion(s["scores"]["test_y"], s["scores"]["test_p"])
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center")
        ax.set(
            title=s["label"],
            xticks=[0, 1],
            yticks=[0, 1],
            xticklabels=["bogus", "real"],
            yticklabels=["bogus", "real"],
            xlabel="predicted",
            ylabel="true",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_training(stages: list[dict[str, Any]], path: Path, metric: str) -> None:
    fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for s in stages:
        epochs = [h["epoch"] for h in s["history"]]
        loss_ax.plot(epochs, [h["train_loss"] for h in s["history"]], label=s["label"])
        val_ax.plot(epochs, [h.get(f"val_{metric}", np.nan) for h in s["history"]], label=s["label"])
    loss_ax.set(xlabel="epoch", ylabel="training loss", title="Training curves", yscale="log")
    val_ax.set(xlabel="epoch", ylabel=f"validation {metric}", title="Validation")
    val_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def family_recall_markdown(stages: list[dict[str, Any]]) -> str:
    """Per-family recall on the test split (threshold 0.5), one column per stage."""
    names = sorted({f for s in stages for f in s.get("family_recall", {})})
    if not names:
        return "Per-family recall: not recorded by this run."
    head = ["Family (test split, threshold 0.5)", *[s["label"] for s in stages]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        cells = [s.get("family_recall", {}).get(name) for s in stages]
        lines.append(
            "| " + " | ".join([name, *("n/a" if c is None else f"{100 * c:.1f}" for c in cells)]) + " |"
        )
    return "\n".join(lines)


def write_report(run_dir: Path, select_metric: str = "Sum") -> str:
    """Write table.md/json, plots/*.png and report.md for a run; return the table Markdown."""
    stages = load_stages(run_dir)
    if not stages:
        raise FileNotFoundError(f"{run_dir} has no finished stage; run `rbc-train run` first")
    md = write_table(run_dir, stages)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    _plot_metrics(stages, plots / "metrics_per_stage.png")
    _plot_curves(stages, plots / "roc_pr.png")
    _plot_histograms(stages, plots / "score_histograms.png")
    _plot_confusions(stages, plots / "confusion_matrices.png")
    _plot_training(stages, plots / "training_curves.png", select_metric)
    body = ["# RB-C1000 run report", "", md, ""]
    for s in stages:
        body.append(
            f"- {s['label']}: {s['n_train']} training / {s['n_val']} validation samples, "
            f"best epoch {s['best_epoch']}, {s['seconds']:.0f} s; {json.dumps(s['info'])}"
        )
    skipped = [s["label"] for s in stages if s["info"].get("skipped")]
    if skipped:
        body += ["", f"**Skipped SSLS rounds (zero pseudo-labels): {', '.join(skipped)}.**"]
    body += ["", family_recall_markdown(stages)]
    body += [""] + [f"![{p.stem}](plots/{p.name})" for p in sorted(plots.glob("*.png"))]
    (run_dir / "report.md").write_text("\n".join(body) + "\n")
    return md
