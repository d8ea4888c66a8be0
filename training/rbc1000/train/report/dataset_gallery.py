"""A PNG grid of triplets per class and family, so a person can see what the model learns from.

One row per (class, family); each row shows a few seeded random examples, each as science,
reference and difference panels side by side, every panel with its own zscale stretch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rbc1000.train.data.dataset import TripletDataset

CHANNELS = ("sci", "ref", "diff")


def groups(dataset: TripletDataset, per_group: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """[(row title, sample indices)] for each (class, family), real first, examples seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for label, cls in ((1, "real"), (0, "bogus")):
        for family in sorted(set(dataset.family[dataset.y == label].tolist())):
            members = np.flatnonzero((dataset.y == label) & (dataset.family == family))
            pick = np.sort(rng.choice(members, size=min(per_group, len(members)), replace=False))
            proxy = " (proxy)" if dataset.proxy[pick].any() else ""
            out.append((f"{cls}: {family or 'unknown'}{proxy}\n(n={len(members)})", pick))
    return out


def render_gallery(dataset: TripletDataset, out: Path, per_group: int = 4, seed: int = 0) -> Path:
    """Write the grid PNG to `out` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy.visualization import ZScaleInterval

    rows = groups(dataset, per_group, seed)
    if not rows:
        raise ValueError(f"dataset {dataset.name!r} is empty: nothing to draw")
    n_cols = per_group * 3
    fig, axes = plt.subplots(
        len(rows),
        n_cols,
        figsize=(0.9 * n_cols + 1.6, 1.0 * len(rows) + 0.6),
        squeeze=False,
        gridspec_kw={"wspace": 0.05, "hspace": 0.25},
    )
    zscale = ZScaleInterval()
    for r, (title, picks) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            example, channel = divmod(c, 3)
            if example >= len(picks):
                ax.axis("off")
                continue
            image = dataset.x[picks[example], channel]
            lo, hi = zscale.get_limits(image)
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, origin="lower", interpolation="nearest")
            if r == 0:
                ax.set_title(CHANNELS[channel], fontsize=7)
            if c == 0:
                ax.set_ylabel(title, fontsize=6, rotation=0, ha="right", va="center")
    fig.suptitle(
        f"{dataset.name}: {len(dataset)} samples, zscale per panel (preprocessed triplets)", fontsize=9
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
