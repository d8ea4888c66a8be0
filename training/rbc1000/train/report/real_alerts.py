"""What a model achieves on real alerts, beside what the survey's own scores achieve on them.

Every real-alert evaluation prints the model's ROC-AUC next to that of the packets' own `rb`
(ZTF's random forest) and `drb` (braai) on the same alerts, each with a bootstrap 95%
interval (alerts resampled with replacement; the same resamples for every score, so the
interval of the difference model - rb is paired), the number of non-finite scores, and how
often drb-real alerts with masked pixels are lost compared with those without.

When the labels themselves come from drb (proxy labels), drb's ROC-AUC is 1 by construction
and says nothing; the column is kept so that the table states it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rbc1000.model.preprocessing import SENTINEL_ABS, STAMP_SIZE


@dataclass(frozen=True)
class AlertFacts:
    """The survey's own scores of one alert and whether any of its stamps has masked pixels."""

    rb: float  # NaN when absent
    drb: float  # NaN when absent or unversioned
    masked: bool
    object_id: str = ""  # the survey's object (ZTF objectId); "" when unknown


def _has_mask(stamp: np.ndarray) -> bool:
    if stamp.shape != (STAMP_SIZE, STAMP_SIZE):
        return True  # cut by a CCD edge: preprocessing pads it with masked pixels
    with np.errstate(invalid="ignore"):
        return bool((~np.isfinite(stamp) | (np.abs(stamp) >= SENTINEL_ABS)).any())


def alert_facts(paths: Iterable[str | Path]) -> dict[str, AlertFacts]:
    """`<survey>:<alert id>` -> AlertFacts for every readable alert under `paths`."""
    from rbc1000.train.data.loaders.alert_stamps import SkipCounter, drb_score, iter_alert_stamps

    facts: dict[str, AlertFacts] = {}
    for item in iter_alert_stamps(list(paths), SkipCounter.empty()):
        drb = drb_score(item.alert)
        rb = item.alert.rb
        masked = any(_has_mask(s) for s in (item.science, item.reference, item.difference))
        facts[f"{item.alert.survey}:{item.alert.alert_id}"] = AlertFacts(
            np.nan if rb is None else float(rb), np.nan if drb is None else drb, masked, item.alert.object_id
        )
    return facts


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if np.unique(y).size < 2:
        return float("nan")
    return float(roc_auc_score(y, score))


def bootstrap_aucs(
    y: np.ndarray, scores: dict[str, np.ndarray], n_boot: int = 2000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """ROC-AUC and its bootstrap 95% interval per score, plus `<name> - rb` paired differences.

    Scores must be finite where used: each score is evaluated on the alerts where it is
    finite, and a difference on the alerts where both are.
    """
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, y.size, y.size) for _ in range(n_boot)]
    out: dict[str, dict[str, float]] = {}
    for name, s in scores.items():
        ok = np.isfinite(s)
        boots = [_auc(y[d][ok[d]], s[d][ok[d]]) for d in draws]
        out[name] = _summary(_auc(y[ok], s[ok]), boots, int(ok.sum()))
    if "rb" in scores:
        for name, s in scores.items():
            if name in ("rb", "drb"):
                continue
            ok = np.isfinite(s) & np.isfinite(scores["rb"])
            diffs = [
                _auc(y[d][ok[d]], s[d][ok[d]]) - _auc(y[d][ok[d]], scores["rb"][d][ok[d]]) for d in draws
            ]
            point = _auc(y[ok], s[ok]) - _auc(y[ok], scores["rb"][ok])
            out[f"{name} - rb"] = _summary(point, diffs, int(ok.sum()))
    return out


def _summary(point: float, boots: list[float], n: int) -> dict[str, float]:
    finite = np.asarray([b for b in boots if np.isfinite(b)])
    lo, hi = np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan)
    return {"roc_auc": point, "low": float(lo), "high": float(hi), "n": n}


def mask_loss_rates(y: np.ndarray, p: np.ndarray, masked: np.ndarray, threshold: float) -> dict[str, Any]:
    """Among real-labelled alerts: the share lost (p < threshold) with and without masked pixels."""
    real = y == 1
    lost = ~(p >= threshold)  # a NaN score counts as lost
    rows: dict[str, Any] = {}
    for name, members in (("masked", real & masked), ("unmasked", real & ~masked)):
        n = int(members.sum())
        k = int((lost & members).sum())
        rows[name] = {"lost": k, "n": n, "rate": k / n if n else None}
    a, b = rows["masked"]["rate"], rows["unmasked"]["rate"]
    rows["ratio"] = (a / b if b else (None if a else 1.0)) if a is not None and b is not None else None
    return rows


def real_alert_summary(
    ids: np.ndarray, y: np.ndarray, p: np.ndarray, facts: dict[str, AlertFacts], threshold: float, n_boot: int
) -> dict[str, Any]:
    """Model beside rb and drb on the alerts among `ids`, with intervals and the mask loss rates."""
    keep = np.array([str(i) in facts for i in ids], dtype=bool)
    f = [facts[str(i)] for i in ids[keep]]
    yk, pk = np.asarray(y)[keep], np.asarray(p, dtype=np.float64)[keep]
    rb = np.array([a.rb for a in f])
    drb = np.array([a.drb for a in f])
    masked = np.array([a.masked for a in f], dtype=bool)
    scores = {"model": pk, "rb": rb, "drb": drb}
    return {
        "n": int(keep.sum()),
        "n_real": int(yk.sum()),
        "nonfinite_scores": int((~np.isfinite(pk)).sum()),
        "threshold": threshold,
        "roc_auc": bootstrap_aucs(yk, scores, n_boot) if keep.any() else {},
        "mask_loss": mask_loss_rates(yk, pk, masked, threshold),
        "n_masked": int(masked.sum()),
    }


def summary_markdown(summary: dict[str, Any], model_name: str) -> str:
    """The real-alert table: ROC-AUC of the model, rb and drb with 95% intervals, mask loss rates."""
    lines = [
        f"**Real alerts: {summary['n']} ({summary['n_real']} labelled real), "
        f"{summary['nonfinite_scores']} non-finite model scores**",
        "",
        "| Score | ROC-AUC | bootstrap 95% interval | alerts scored |",
        "|---|---|---|---|",
    ]
    for name, row in summary["roc_auc"].items():
        label = model_name if name == "model" else name.replace("model", model_name)
        lines.append(
            f"| {label} | {row['roc_auc']:.4f} | [{row['low']:.4f}, {row['high']:.4f}] | {row['n']} |"
        )
    m = summary["mask_loss"]
    ratio = "n/a" if m["ratio"] is None else f"{m['ratio']:.2f}"
    lines += [
        "",
        f"Real-labelled alerts lost at threshold {summary['threshold']}: with masked pixels "
        f"{m['masked']['lost']} / {m['masked']['n']}, without {m['unmasked']['lost']} / "
        f"{m['unmasked']['n']}; ratio of the rates {ratio} (target <= 2).",
    ]
    return "\n".join(lines) + "\n"
