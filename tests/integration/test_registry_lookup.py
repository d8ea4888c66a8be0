"""Input schema ids resolved from the real schema registry (Apicurio, deploy/registry/registry.sh):
a registered id decodes, an unknown id is `unknown_schema` (the registry's 404) and asked for
once, and `rbc serve` keeps the registry's credentials out of dead letters and its log.

Needs RBC_TEST_REGISTRY_URL (`export RBC_TEST_REGISTRY_URL=$(cat deploy/registry/.work/url)`)
besides the broker; skipped without it on a workstation, failed under CI=true."""

from __future__ import annotations

import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from rbc1000.alerts.alert import Alert, DecodeError, DecodeFailure
from rbc1000.alerts.decoding import Decoder
from rbc1000.alerts.registry import SchemaRegistry
from rbc1000.reasons import Reason
from tests.integration.ops_support import ServeProcess, consume_all, create_topic, header, produce, unique
from tests.integration.registry_support import register_lsst
from tests.support.alert_factory import LSST_9_0_ID, confluent, read_records
from tests.support.model_factory import RELAXED_CANARY_ENV, write_tiny_model

SECRET = "s3cr3t-registry-pw"
LSST_DIR = "lsst-real__fink-broker_lsstcam_20250905_v9.0__"


@pytest.fixture(scope="module")
def registered(registry: str) -> int:
    """The id the registry gives the LSST 9.0 schema under a fresh subject."""
    return register_lsst(registry, "rbc-in")


def _frame(schema_id: int, record: dict[str, Any]) -> bytes:
    message = confluent(LSST_9_0_ID, record)
    return message[:1] + schema_id.to_bytes(4, "big") + message[5:]


def _with_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"reader:{SECRET}@{parts.netloc}"))


@pytest.fixture(scope="module")
def record(vendored_alerts: Path) -> dict[str, Any]:
    return read_records(next(iter(sorted(vendored_alerts.glob(f"{LSST_DIR}*.avro")))))[1][0]


def test_a_registered_id_decodes_and_an_unknown_one_is_a_cached_404(
    registry: str, registered: int, record: dict[str, Any], tmp_path: Path
) -> None:
    lookup = SchemaRegistry(tmp_path, _with_credentials(registry))  # empty directory: ask the registry
    assert lookup.get(registered)["name"] == "lsst.v9_0.alert"
    unknown = registered + 1_000_000
    for _ in range(3):
        with pytest.raises(DecodeError) as caught:
            lookup.get(unknown)
        assert caught.value.reason == Reason.UNKNOWN_SCHEMA and SECRET not in str(caught.value)
    assert lookup.client is not None and lookup.client.requests == 2  # one for each id
    [alert] = Decoder(tmp_path, registry).decode(_frame(registered, record))
    assert isinstance(alert, Alert) and alert.alert_id == record["diaSourceId"]
    [failure] = Decoder(tmp_path, registry).decode(_frame(unknown, record))
    assert isinstance(failure, DecodeFailure) and failure.error.reason == Reason.UNKNOWN_SCHEMA


def test_serve_dead_letters_an_unknown_id_without_the_registry_credentials(
    bootstrap: str, registry: str, registered: int, record: dict[str, Any], tmp_path: Path
) -> None:
    topics = {"in": unique("reg-in"), "scored": unique("reg-scored"), "dead": unique("reg-dead")}
    create_topic(bootstrap, topics["in"])
    produce(bootstrap, topics["in"], [_frame(registered, record), _frame(registered + 1_000_000, record)])
    (tmp_path / "schemas").mkdir()
    serve = ServeProcess(
        tmp_path / "serve.log",
        {
            "RBC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "RBC_INPUT_TOPICS": topics["in"],
            "RBC_GROUP_ID": unique("reg-group"),
            "RBC_SCORED_TOPIC": topics["scored"],
            "RBC_LABELLING_TOPIC": unique("reg-labelling"),
            "RBC_DEAD_LETTER_TOPIC": topics["dead"],
            "RBC_MODEL_PATH": str(write_tiny_model(tmp_path / "model.onnx")),
            "RBC_PROVIDER": "cpu",
            "RBC_SCHEMA_DIR": str(tmp_path / "schemas"),
            "RBC_REGISTRY_URL": _with_credentials(registry),
            **RELAXED_CANARY_ENV,
        },
    )
    try:
        [scored] = consume_all(bootstrap, topics["scored"], 1)
        [letter] = consume_all(bootstrap, topics["dead"], 1)
    finally:
        code = serve.stop()
    log = serve.log_path.read_text()
    assert code == 0, log
    assert scored.value() and header(letter, "rbc.error.reason") == "unknown_schema"
    assert SECRET not in str(letter.headers()) and SECRET not in log
