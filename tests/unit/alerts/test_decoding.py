"""Decoding real packets: every corpus alert, every framing, and bad input as typed errors."""

from __future__ import annotations

import http.server
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rbc1000.alerts.alert import Alert, DecodeFailure
from rbc1000.alerts.decoding import Decoder
from rbc1000.alerts.fits import read_stamp
from rbc1000.alerts.framing import detect_framing
from rbc1000.alerts.limits import DEFAULT_LIMITS, DecodeLimits
from rbc1000.alerts.registry import DEFAULT_SCHEMA_DIR
from rbc1000.alerts.sources import iter_alerts
from rbc1000.model.preprocessing import triplet_from_cutouts
from tests.conftest import read_manifest
from tests.support.alert_factory import (
    LSST_9_0_ID,
    WFST_1_0_ID,
    confluent,
    container,
    read_records,
)

LSST_DIR = "lsst-real__fink-broker_lsstcam_20250905_v9.0__"


def shape_text(stamp: bytes) -> str:
    h, w = read_stamp(stamp).shape
    return f"{h}x{w}"


def check_against_manifest(root: Path, rows: list[dict[str, str]], file_key: str) -> int:
    decoder = Decoder()
    for row in rows:
        [result] = decoder.decode((root / row[file_key]).read_bytes())
        assert isinstance(result, Alert), (row[file_key], result)
        assert result.survey == "ztf"
        assert str(result.alert_id) == row["candid"]
        assert result.object_id == row["objectId"]
        assert abs(result.mjd + 2400000.5 - float(row["jd"])) < 1e-6
        assert result.cutouts.complete == (row["sci_present"] == "True")
        if row["schemavsn"]:
            assert result.schema_version == row["schemavsn"]
        if row["drbversion"]:
            assert result.drb == pytest.approx(float(row["drb"]))
            assert result.survey_score_name == "drb"
        else:
            assert result.drb is None  # ALeRCE's placeholder drb=0 without version is not a score
        c = result.cutouts
        for prefix, stamp in (("sci", c.science), ("tmpl", c.template), ("diff", c.difference)):
            if stamp is None:
                continue
            image = read_stamp(stamp)
            assert shape_text(stamp) == row[f"{prefix}_shape"]
            assert int(np.isnan(image).sum()) == int(row[f"{prefix}_nan"])
    return len(rows)


def test_every_corpus_alert_matches_the_manifest(shared_data: Path) -> None:
    rows = read_manifest(shared_data / "ztf_alerts_manifest.csv")
    assert check_against_manifest(shared_data, rows, "file") == 1146


def test_vendored_alerts_match_the_manifest(vendored_alerts: Path) -> None:
    rows = read_manifest(vendored_alerts.parent / "ztf_alerts_manifest.csv")
    assert check_against_manifest(vendored_alerts.parent, rows, "vendored_as") == len(rows) > 30


def test_every_corpus_triplet_builds(shared_data: Path) -> None:
    built = missing = 0
    for _, _, result in iter_alerts([shared_data]):
        assert isinstance(result, Alert)
        if result.cutouts.complete:
            assert triplet_from_cutouts(result.cutouts).shape == (3, 63, 63)
            built += 1
        else:
            missing += 1
    assert (built, missing) == (1046 + 25, 100)


def test_lsst_alerts_decode_with_rubin_fields(vendored_alerts: Path) -> None:
    files = sorted(vendored_alerts.glob(f"{LSST_DIR}*.avro"))
    assert len(files) == 5
    for path in files:
        [alert] = Decoder().decode(path.read_bytes())
        assert isinstance(alert, Alert)
        assert (alert.survey, alert.schema_version) == ("lsst", "9.0")
        assert str(alert.alert_id) == path.stem.rsplit("__", 1)[1]
        assert alert.flux is not None and alert.mag is None and alert.band in "ugrizy"
        assert alert.survey_score_name == "reliability" and 0 <= (alert.survey_score or 0) <= 1
        assert triplet_from_cutouts(alert.cutouts).shape == (3, 63, 63)


@pytest.mark.parametrize(("survey", "schema_id"), [("lsst", LSST_9_0_ID), ("wfst", WFST_1_0_ID)])
def test_confluent_frames_round_trip(vendored_alerts: Path, survey: str, schema_id: int) -> None:
    decoder = Decoder()
    for path in sorted(vendored_alerts.glob(f"{LSST_DIR}*.avro")):
        _, [record] = read_records(path)
        message = confluent(schema_id, record, survey)
        assert detect_framing(message) == "confluent"
        [alert] = decoder.decode(message)
        assert isinstance(alert, Alert), alert
        assert alert.survey == survey
        assert alert.alert_id == record["diaSourceId"]
        assert alert.cutouts.science == record["cutoutScience"]
        assert alert.record()["diaSource"]["diaSourceId"] == record["diaSourceId"]


def test_every_rubin_schema_version_loads() -> None:
    decoder = Decoder()
    versions = sorted(DEFAULT_SCHEMA_DIR.glob("lsst/*/*"))
    assert len(versions) == 15
    for version in versions:
        plan = decoder.plan_for_id(int(version.parent.name) * 100 + int(version.name))
        assert plan.survey == "lsst"
        assert plan.version_hint == f"{version.parent.name}.{version.name}"


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
def test_multi_record_containers(vendored_alerts: Path, codec: str) -> None:
    paths = sorted(vendored_alerts.glob("fink-broker__ztf_v4.02__*.avro"))[:3]
    schema, _ = read_records(paths[0])
    records = [r for p in paths for r in read_records(p)[1] if read_records(p)[0] == schema]
    data = container(schema, records * 4, codec=codec, sync_interval=100_000)
    results = Decoder().decode(data)
    assert [r.alert_id for r in results if isinstance(r, Alert)] == [r["candid"] for r in records * 4]


def test_a_corrupt_block_costs_only_its_own_records(vendored_alerts: Path) -> None:
    path = next(iter(sorted(vendored_alerts.glob("fink-broker__ztf_v4.02__*.avro"))))
    schema, [record] = read_records(path)
    data = bytearray(container(schema, [record] * 3, sync_interval=1))  # one record per block
    sync = bytes(data[-16:])
    second_block = data.find(sync, data.find(sync) + 16) + 16
    data[second_block : second_block + 4] = b"\x02\xfe\xff\x7f"  # count 1, absurd size
    results = Decoder().decode(bytes(data))
    alerts = [r for r in results if isinstance(r, Alert)]
    failures = [r for r in results if isinstance(r, DecodeFailure)]
    assert len(alerts) == 2 and len(failures) >= 1
    assert all(f.error.reason in {"bad_record", "bad_container", "truncated", "bad_field"} for f in failures)


def test_alert_without_cutouts_decodes_with_cutouts_missing(vendored_alerts: Path) -> None:
    for path in vendored_alerts.glob("ampel-ztf__alerts_20210720_programid1_NO_CUTOUTS__*.avro"):
        [alert] = Decoder().decode(path.read_bytes())
        assert isinstance(alert, Alert)
        assert alert.cutouts.science is None and not alert.cutouts.complete


def test_full_record_on_demand(vendored_alerts: Path) -> None:
    path = vendored_alerts / "ztf-avro-alert__alerts__472263571115115000__schema3.3.avro"
    [alert] = Decoder().decode(path.read_bytes())
    assert isinstance(alert, Alert)
    full = alert.record()
    assert full["candid"] == alert.alert_id and "prv_candidates" in full


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "bad_framing"),
        (b"hello world", "bad_framing"),
        (b"\x00\x00\x00\x00\x07rest", "unknown_schema"),  # id 7: no such schema
        (b"\x00\x00\x00\x27\x0f", "unknown_schema"),  # id 9999: not LSST, not WFST
        (b"Obj\x01\x00", "truncated"),
    ],
)
def test_bad_messages_are_typed_failures(data: bytes, reason: str) -> None:
    [failure] = Decoder().decode(data)
    assert isinstance(failure, DecodeFailure)
    assert failure.error.reason == reason


def test_a_field_without_a_name_in_the_writer_schema_is_bad_schema(vendored_alerts: Path) -> None:
    data = next(iter(sorted(vendored_alerts.glob("*.avro")))).read_bytes()
    at = data.index(b'"name"', data.index(b'"fields"'))  # the first field's name key
    [failure] = Decoder().decode(data[:at] + b'"nane"' + data[at + 6 :])  # one flipped bit
    assert isinstance(failure, DecodeFailure)
    assert failure.error.reason == "bad_schema"


def test_confluent_body_of_the_wrong_schema_fails(vendored_alerts: Path) -> None:
    _, [record] = read_records(next(iter(vendored_alerts.glob(f"{LSST_DIR}*.avro"))))
    message = confluent(LSST_9_0_ID, record)
    wrong = message[:1] + (301).to_bytes(4, "big") + message[5:]  # claims lsst.v3_1 (absent)
    [failure] = Decoder().decode(wrong)
    assert isinstance(failure, DecodeFailure)


class _Registry(http.server.BaseHTTPRequestHandler):
    schema: str = ""

    def do_GET(self) -> None:
        found = self.path == "/schemas/ids/4242"
        body = json.dumps({"schema": self.schema} if found else {"error_code": 40403}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    from rbc1000.alerts.registry import load_schema_dir

    _Registry.schema = json.dumps(load_schema_dir(DEFAULT_SCHEMA_DIR / "lsst" / "9" / "0"))
    server = http.server.HTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_schema_ids_resolve_from_a_registry_once(
    vendored_alerts: Path, registry_url: str, tmp_path: Path
) -> None:
    _, [record] = read_records(next(iter(vendored_alerts.glob(f"{LSST_DIR}*.avro"))))
    message = confluent(LSST_9_0_ID, record)
    message = message[:1] + (4242).to_bytes(4, "big") + message[5:]
    decoder = Decoder(schema_dir=tmp_path, registry_url=registry_url)  # empty local dir
    [alert] = decoder.decode(message)
    assert isinstance(alert, Alert) and alert.alert_id == record["diaSourceId"]
    [again] = decoder.decode(message)
    assert isinstance(again, Alert) and 4242 in decoder.registry._cache
    [missing] = decoder.decode(message[:1] + (4243).to_bytes(4, "big") + message[5:])
    assert isinstance(missing, DecodeFailure) and missing.error.reason == "unknown_schema"


def test_unreachable_registry_is_a_typed_failure(tmp_path: Path) -> None:
    decoder = Decoder(schema_dir=tmp_path, registry_url="http://127.0.0.1:9")
    [failure] = decoder.decode(b"\x00\x00\x00\x10\x92body")
    assert isinstance(failure, DecodeFailure) and failure.error.reason == "registry_unavailable"


def test_sources_walk_directories_and_tarballs(vendored_alerts: Path, tmp_path: Path) -> None:
    files = sorted(vendored_alerts.glob("fink-broker__ztf_v3.3__*.avro"))
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "notes.txt").write_text("not an alert")
    with tarfile.open(nested / "night.tar.gz", "w:gz") as archive:
        for f in files:
            archive.add(f, arcname=f"night/{f.name}")
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tarball")
    results = list(iter_alerts([tmp_path]))
    alerts = [r for _, _, r in results if isinstance(r, Alert)]
    failures = [(p.path, r) for p, _, r in results if isinstance(r, DecodeFailure)]
    assert len(alerts) == len(files)
    assert [(p, f.error.reason) for p, f in failures] == [(str(tmp_path / "broken.tar.gz"), "bad_archive")]


def test_each_writer_schema_is_parsed_once(vendored_alerts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rbc1000.alerts.decoding as decoding

    calls: list[str] = []
    real = decoding.make_plan

    def counting(schema: dict[str, Any], limits: DecodeLimits = DEFAULT_LIMITS) -> decoding.SchemaPlan:
        calls.append(schema["name"])
        return real(schema, limits)

    monkeypatch.setattr(decoding, "make_plan", counting)
    decoder = Decoder()
    path = next(iter(sorted(vendored_alerts.glob("fink-broker__ztf_v3.3__*.avro"))))
    for _ in range(5):
        [alert] = decoder.decode(path.read_bytes())
        assert isinstance(alert, Alert)
    assert len(calls) == 1


def test_projection_reads_only_scoring_fields(vendored_alerts: Path) -> None:
    path = vendored_alerts / "ztf-avro-alert__alerts__472263571115115000__schema3.3.avro"
    decoder = Decoder()
    [alert] = decoder.decode(path.read_bytes())
    assert isinstance(alert, Alert)
    plan = next(iter(decoder.plans._plans.values()))
    reader_fields = {f["name"] for f in plan.reader["fields"]}
    assert "prv_candidates" not in reader_fields and "candidate" in reader_fields
    assert "prv_candidates" in alert.record()
