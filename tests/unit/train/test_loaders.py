"""Every loader: small fixtures written here, one dataset type out, clear errors on bad input."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import fastavro
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from rbc1000.alerts.alert import Alert
from rbc1000.model.preprocessing import make_triplet
from rbc1000.train.data.loaders import DatasetError, load_dataset, load_dataset_report, parse_spec
from rbc1000.train.data.loaders.ztf_new import table_dtype, write_table

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="needs the real alert corpus at ../shared/data")


def _stamps(n: int, seed: int, size: int = 63) -> np.ndarray:
    return np.random.default_rng(seed).normal(10, 2, size=(n, size, size, 3)).astype(np.float32)


def _write_sim_tables(directory: Path, set_name: str = "t", n_real: int = 4, n_bogus: int = 6) -> None:
    for cls, n in (("real", n_real), ("bogus", n_bogus)):
        rows = np.zeros(n, dtype=table_dtype(63, 63))
        rows["star_stamp"] = _stamps(n, seed=len(cls))
        rows["sample_id"] = [f"{cls}-{i}".encode() for i in range(n)]
        rows["family"] = b"fam_" + cls.encode()
        rows["proxy"] = cls == "real"
        write_table(directory / f"new_{cls}_{set_name}.fits", rows)


# ---- ZTF-NEW tables -------------------------------------------------------------------------


def test_ztf_new_tables_round_trip_through_make_triplet(tmp_path: Path) -> None:
    _write_sim_tables(tmp_path)
    data = load_dataset(tmp_path)
    assert data.x.shape == (10, 3, 63, 63) and data.x.dtype == np.float32
    assert data.y.tolist() == [1] * 4 + [0] * 6
    assert data.ids[0] == "real-0" and data.family[5] == "fam_bogus"
    assert data.proxy.tolist() == [True] * 4 + [False] * 6
    stamp = _stamps(4, seed=4)[2]
    assert np.array_equal(data.x[2], make_triplet(stamp[..., 0], stamp[..., 1], stamp[..., 2]))
    assert sorted(np.concatenate([data.splits["test"], data.splits["pool"]])) == list(range(10))


def test_paper_style_tables_without_extra_columns(tmp_path: Path) -> None:
    for cls, n in (("real", 3), ("bogus", 5)):
        Table({"star_stamp": _stamps(n, seed=n, size=51)}).write(tmp_path / f"new_{cls}_g.fits")
    report = load_dataset_report(f"ztf-new:{tmp_path}?set=g&test_fraction=0.4")
    assert report.dataset.ids.tolist()[:2] == ["g:real:0", "g:real:1"]
    assert not report.dataset.proxy.any()
    assert report.raw_shapes == {"51x51": 8}
    assert report.nonfinite[:, 0].sum() == 0  # padding to 63 happens after the count


def test_several_sets_need_a_choice_and_corrupt_files_are_named(tmp_path: Path) -> None:
    _write_sim_tables(tmp_path, "g")
    _write_sim_tables(tmp_path, "r")
    with pytest.raises(DatasetError, match="choose one"):
        load_dataset(tmp_path)
    assert len(load_dataset(tmp_path, set="r")) == 10
    (tmp_path / "new_bogus_r.fits").write_bytes(b"SIMPLE  = garbage")
    with pytest.raises(DatasetError, match=r"new_bogus_r\.fits"):
        load_dataset(tmp_path, set="r")


def test_table_without_star_stamp_is_refused(tmp_path: Path) -> None:
    Table({"other": np.arange(3)}).write(tmp_path / "new_real_x.fits")
    with pytest.raises(DatasetError, match="star_stamp"):
        load_dataset(tmp_path)


def test_card_splits_are_used_and_checked(tmp_path: Path) -> None:
    _write_sim_tables(tmp_path)
    card = {"splits": {"test": ["real-0", "bogus-1"], "pool": ["real-1"]}}
    (tmp_path / "dataset_card.json").write_text(json.dumps(card))
    data = load_dataset(tmp_path)
    assert data.ids[data.splits["test"]].tolist() == ["real-0", "bogus-1"]
    card["splits"]["test"].append("ghost")
    (tmp_path / "dataset_card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="ghost"):
        load_dataset(tmp_path)


# ---- braai ----------------------------------------------------------------------------------


def _write_braai(tmp_path: Path, labels: list[str]) -> Path:
    npy = tmp_path / "triplets.npy"
    np.save(npy, _stamps(len(labels), seed=9))
    with (tmp_path / "triplets.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["candid", "label"])
        writer.writerows([[100 + i, lab] for i, lab in enumerate(labels)])
    return npy


def test_braai_npy_and_csv(tmp_path: Path) -> None:
    npy = _write_braai(tmp_path, ["1", "0", "real", "bogus", "1.0"])
    data = load_dataset(npy)
    assert data.y.tolist() == [1, 0, 1, 0, 1]
    assert data.ids.tolist()[0] == "braai:100"
    assert data.name == "braai:triplets"


def test_braai_errors_name_the_file(tmp_path: Path) -> None:
    npy = _write_braai(tmp_path, ["1", "maybe"])
    with pytest.raises(DatasetError, match=r"triplets.csv row 3"):
        load_dataset(npy)
    np.save(npy, _stamps(3, seed=1))
    with pytest.raises(DatasetError, match="2 label rows for 3 triplets"):
        load_dataset(npy)
    npy.write_bytes(b"not numpy")
    with pytest.raises(DatasetError, match=r"triplets\.npy"):
        load_dataset(npy)


# ---- spec syntax ----------------------------------------------------------------------------


def test_spec_parsing_and_errors(tmp_path: Path) -> None:
    assert parse_spec("proxy:a,b?real=0.95") == ("proxy", [Path("a"), Path("b")], {"real": "0.95"})
    assert parse_spec("alerts:x?labels=l.csv")[2] == {"labels": "l.csv"}
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nothing")
    with pytest.raises(DatasetError, match="labels file"):
        load_dataset(f"alerts:{tmp_path}")
    _write_sim_tables(tmp_path)
    with pytest.raises(DatasetError, match="unknown option"):
        load_dataset(f"{tmp_path}?colour=red")


# ---- alerts (real packets from the corpus, rewritten with our own ids and stamps) -----------


def _gz_fits(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    fits.PrimaryHDU(image.astype(np.float32)).writeto(buffer)
    return gzip.compress(buffer.getvalue())


def _write_alerts(tmp_path: Path, ids: list[int]) -> Path:
    """Packets with the schema of a real ZTF alert, new candids and synthetic stamps."""
    source = CORPUS / "ztf-avro-alert"
    path = next(p for p in sorted(source.rglob("*.avro")) if "schema3.3" in p.name)
    with path.open("rb") as handle:
        reader = fastavro.reader(handle)
        schema, first = reader.writer_schema, next(iter(reader))
    assert isinstance(first, dict)  # an alert schema is a record
    record = dict(first)
    out = tmp_path / "alerts"
    out.mkdir()
    for n, alert_id in enumerate(ids):
        stamps = _stamps(1, seed=n)[0]
        record = {**record, "candid": alert_id, "candidate": {**record["candidate"], "candid": alert_id}}
        for key, channel in (("cutoutScience", 0), ("cutoutTemplate", 1), ("cutoutDifference", 2)):
            stamp = _gz_fits(stamps[..., channel])
            record[key] = {**record[key], "stampData": stamp}
        with (out / f"{alert_id}.avro").open("wb") as handle:
            fastavro.writer(handle, fastavro.parse_schema(schema, named_schemas={}), [record])
    (out / "broken.avro").write_bytes(b"Obj\x01 truncated")
    return out


@needs_corpus
def test_labelled_alerts_csv_and_jsonl(tmp_path: Path) -> None:
    alerts = _write_alerts(tmp_path, [11, 12, 13])
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "alert_id,label,labeller,labelled_at\n11,real,ann,2026-01-01T00:00:00\n"
        "12,bogus,bob,2026-01-01T00:00:00\n12,real,ann,2026-02-01T00:00:00\n"
        "99,bogus,bob,2026-01-01T00:00:00\n"
    )
    report = load_dataset_report(f"alerts:{alerts}?labels={labels}")
    data = report.dataset
    assert dict(zip(data.ids.tolist(), data.y.tolist(), strict=True)) == {"ztf:11": 1, "ztf:12": 1}
    assert not data.proxy.any()
    assert report.skipped["unlabelled_alert"]["count"] == 1
    assert "99" in report.skipped["label_without_alert"]["example"]
    assert "broken.avro" in next(v["example"] for k, v in report.skipped.items() if k.startswith("decode:"))
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text(json.dumps({"alert_id": 13, "label": 0}) + "\n")
    assert load_dataset(f"alerts:{alerts}", labels=str(jsonl)).y.tolist() == [0]
    jsonl.write_text("{not json\n")
    with pytest.raises(DatasetError, match=r"labels\.jsonl line 1"):
        load_dataset(f"alerts:{alerts}?labels={jsonl}")


@needs_corpus
def test_proxy_labels_follow_drb_thresholds() -> None:
    from rbc1000.alerts.sources import iter_alerts

    drb = {
        f"{a.survey}:{a.alert_id}": float(a.drb or 0.0)
        for _, _, a in iter_alerts([CORPUS / "alerce-pipeline"])
        if isinstance(a, Alert) and a.drbversion
    }
    report = load_dataset_report(f"proxy:{CORPUS / 'alerce-pipeline'}")
    data = report.dataset
    assert data.proxy.all() and len(data) > 50
    for sample_id, label in zip(data.ids.tolist(), data.y.tolist(), strict=True):
        assert (drb[sample_id] >= 0.9) if label else (drb[sample_id] <= 0.1)
    strict = load_dataset(f"proxy:{CORPUS / 'alerce-pipeline'}?real=0.999&bogus=0.01")
    assert len(strict) < len(data)
    assert "no_drb_version" in report.skipped  # placeholder drb without a version is ignored
