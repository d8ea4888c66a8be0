"""The reliability diagram of a calibration: observed real share against mean p_real, per bin."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_reliability(report: dict[str, Any], survey: str, out: Path) -> Path:
    """Before and after calibration on `survey`'s evaluation half, as a PNG at `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["surveys"][survey]
    m = s["metrics"]
    fig, ax = plt.subplots(figsize=(5.2, 5.0), dpi=120)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    for key, label, marker in (
        ("reliability_before", f"network output (ECE {m['ECE_before']:.3f})", "o"),
        ("reliability_after", f"calibrated p_real (ECE {m['ECE_after']:.3f})", "s"),
    ):
        rows = s[key]
        ax.plot(
            [r["mean_p"] for r in rows],
            [r["real_share"] for r in rows],
            marker=marker,
            label=label,
        )
        for r in rows:
            ax.annotate(
                str(r["n"]),
                (r["mean_p"], r["real_share"]),
                fontsize=6,
                alpha=0.7,
                textcoords="offset points",
                xytext=(3, -8),
            )
    ev = s["evaluation_half"]
    ax.set_xlabel("mean p_real in bin (10 equal-width bins; numbers: alerts)")
    ax.set_ylabel("share labelled real (proxy labels)")
    ax.set_title(f"{survey}: evaluation half, {ev['n']} alerts ({ev['n'] - ev['n_real']} bogus)", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
