"""A picture of what the model decided: the triplets it found most real, most bogus, least sure.

`Highlights` keeps, while alerts stream past, the k highest and k lowest `p_real` and the k
closest to the model's threshold (bounded heaps: memory does not grow with the input).
`render` draws them as science / reference / difference stamps with the object id and score,
through the shared stamp renderer (`rbc1000.viz.stamps`: zscale, no-data pixels in blue), to a
PNG (matplotlib's Agg backend, no display needed).
"""

from __future__ import annotations

import heapq
import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from rbc1000.alerts.fits import read_stamp
from rbc1000.model.contract import ModelInfo
from rbc1000.model.decisions import ScoredAlert
from rbc1000.viz.stamps import CMAP, stretch

GROUPS = ("most real", "most bogus", "least sure")
STAMPS = ("science", "reference", "difference")


class Highlights:
    """Bounded selection of the k most real, k most bogus and k least sure scored alerts."""

    def __init__(self, k: int, threshold: float) -> None:
        self.k = k
        self.threshold = threshold
        self._tie = itertools.count()
        # Min-heaps keyed so that the worst kept entry is on top and is replaced first.
        self._heaps: dict[str, list[tuple[float, int, ScoredAlert]]] = {g: [] for g in GROUPS}

    def offer(self, scored: ScoredAlert) -> None:
        """Consider one scored alert for the three groups (an unscored one has no place)."""
        p_real = scored.p_real
        if p_real is None:
            return
        keys = {
            "most real": p_real,
            "most bogus": -p_real,
            "least sure": -abs(p_real - self.threshold),
        }
        for group, key in keys.items():
            heap = self._heaps[group]
            entry = (key, next(self._tie), scored)
            if len(heap) < self.k:
                heapq.heappush(heap, entry)
            elif key > heap[0][0]:
                heapq.heapreplace(heap, entry)

    def groups(self) -> dict[str, list[ScoredAlert]]:
        """Each group's alerts, best first."""
        return {g: [e[2] for e in sorted(h, key=lambda e: (-e[0], e[1]))] for g, h in self._heaps.items()}

    def __len__(self) -> int:
        return len(self._heaps["most real"])


def render(highlights: Highlights, info: ModelInfo, path: str | Path) -> Path:
    """Draw the highlights to a PNG at `path` and return the path."""
    groups = highlights.groups()
    rows = max(1, max(len(v) for v in groups.values()))
    fig, axes = plt.subplots(rows, 9, figsize=(13.5, 1.7 * rows + 0.9), squeeze=False)
    for g, (group, alerts) in enumerate(groups.items()):
        for r in range(rows):
            for s in range(3):
                ax = axes[r][3 * g + s]
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{group}\n{STAMPS[s]}" if s == 1 else STAMPS[s], fontsize=8)
                if r >= len(alerts):
                    ax.axis("off")
                    continue
                _draw_stamp(ax, alerts[r], s)
    fig.suptitle(
        f"{info.name} {info.version}: p_real = model probability of a real source "
        f"(threshold {info.threshold:g}); zscale, blue = no data",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _draw_stamp(ax: Axes, scored: ScoredAlert, channel: int) -> None:
    cut = scored.alert.cutouts
    data = (cut.science, cut.template, cut.difference)[channel]
    if data is not None:
        ax.imshow(stretch(read_stamp(data)), cmap=CMAP, origin="lower", interpolation="nearest")
    if channel == 0:
        ax.set_ylabel(f"{scored.alert.object_id}\np={scored.p_real:.3f}", fontsize=7)
