"""A survey's real labelled alerts held out of training, split by object into two halves.

The calibration half fits the calibration and is where the threshold and band rules are
applied; the evaluation half gives every reported figure and the gate. The split is a pure
function of the object ids: objects of each class (an object's class is the majority label
of its alerts, ties real) are ordered by a SHA-256 hash of their id and dealt alternately, so
both halves hold about half of each class and no object has alerts on both sides (alerts of
one object share their stamps' neighbourhood and would leak). Where the object of an alert
is unknown it is its own object.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from rbc1000.train.report.real_alerts import AlertFacts

HALVES = ("calibration", "evaluation")


class SurveyRefused(ValueError):
    """A survey cannot be declared: no evaluation on its alerts (one line, for the CLI)."""


@dataclass(frozen=True)
class SurveyAlerts:
    """One survey's real labelled alerts: triplets, labels, where they came from."""

    survey: str
    set_name: str
    labels: str  # e.g. "proxy: drb >= 0.9 real, <= 0.1 bogus"
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    facts: dict[str, AlertFacts] = field(default_factory=dict)

    def objects(self) -> np.ndarray:
        """The object id of every alert (the alert id where the object is unknown)."""
        return np.array(
            [(self.facts[i].object_id if i in self.facts else "") or i for i in self.ids.astype(str)]
        )


def fingerprint(ids: np.ndarray) -> str:
    """SHA-256 (16 hex digits) of the sorted ids: the same set gives the same fingerprint."""
    return hashlib.sha256("\n".join(sorted(ids.astype(str).tolist())).encode()).hexdigest()[:16]


def _rank(name: str) -> bytes:
    return hashlib.sha256(f"rbc-calibration:{name}".encode()).digest()


def split_by_object(y: np.ndarray, objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(calibration positions, evaluation positions), deterministic and stratified (see module)."""
    names = sorted(set(objects.tolist()))
    label = {o: int(2 * y[objects == o].sum() >= (objects == o).sum()) for o in names}
    calibration: set[str] = set()
    for cls in (0, 1):
        members = sorted((o for o in names if label[o] == cls), key=_rank)
        calibration.update(members[0::2])
    in_cal = np.array([o in calibration for o in objects.tolist()], dtype=bool)
    return np.flatnonzero(in_cal), np.flatnonzero(~in_cal)


def check_halves(alerts: SurveyAlerts, cal: np.ndarray, ev: np.ndarray) -> None:
    """SurveyRefused unless both halves hold real and bogus alerts of the survey."""
    if alerts.y.size == 0:
        raise SurveyRefused(
            f"survey {alerts.survey!r}: no labelled {alerts.survey} alerts in {alerts.set_name}; "
            "a survey is declared only with an evaluation on its own alerts"
        )
    for name, index in zip(HALVES, (cal, ev), strict=True):
        n_real = int(alerts.y[index].sum())
        if n_real in (0, index.size):
            raise SurveyRefused(
                f"survey {alerts.survey!r}: the {name} half of {alerts.set_name} holds {index.size} alerts "
                f"({n_real} real); both halves need real and bogus alerts"
            )


def load_survey_alerts(
    survey: str, spec: str, preprocessing: str, seen: set[str] | None = None
) -> SurveyAlerts:
    """The alerts of `survey` in dataset `spec` with a label, less the ids in `seen`.

    Simulated samples never count: only ids of the form `<survey>:<alert id>` do.
    """
    from rbc1000.train.data.loaders import DatasetError, load_dataset, parse_spec
    from rbc1000.train.report.real_alerts import alert_facts

    kind, paths, options = parse_spec(spec)
    try:
        ds = load_dataset(spec, preprocessing=preprocessing)
    except (DatasetError, FileNotFoundError) as exc:
        raise SurveyRefused(f"survey {survey!r}: {exc}") from None
    ids = ds.ids.astype(str)
    keep = np.array([i.startswith(f"{survey}:") and i not in (seen or set()) for i in ids], dtype=bool)
    part = ds.subset(np.flatnonzero(keep))
    if kind == "proxy" and part.proxy.all():
        labels = f"proxy: drb >= {options.get('real', '0.9')} real, <= {options.get('bogus', '0.1')} bogus"
    else:
        labels = "human labels" if not part.proxy.any() else "human and proxy labels"
    facts = alert_facts(paths) if kind in ("proxy", "alerts") else {}
    unseen = ", unseen by the run" if seen else ""
    return SurveyAlerts(
        survey=survey,
        set_name=f"{survey}: {spec}{unseen}",
        labels=labels,
        ids=part.ids.astype(str),
        x=part.x,
        y=part.y.astype(np.int64),
        facts=facts,
    )


def parse_survey(text: str) -> tuple[str, str]:
    """`ztf=proxy:PATH` -> ("ztf", "proxy:PATH"); SurveyRefused on a malformed value."""
    name, sep, spec = text.partition("=")
    name = name.strip().lower()
    if not sep or not name.isidentifier():
        raise SurveyRefused(f"--survey {text!r}: expected NAME=DATASET_SPEC, e.g. ztf=proxy:../shared/data")
    if not spec.strip():
        raise SurveyRefused(f"survey {name!r}: no alerts given; a survey is declared only with an evaluation")
    return name, spec.strip()
