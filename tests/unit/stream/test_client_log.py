"""librdkafka's errors and logs: de-duplicated per interval, a refused property as a usage error."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError, Producer

from rbc1000.ops.cli_flags import UsageError
from rbc1000.stream.client_log import ClientLog, make_client


def test_the_same_error_is_logged_once_per_interval_with_its_count(caplog: pytest.LogCaptureFixture) -> None:
    log = ClientLog("consumer", interval_s=3600)
    caplog.set_level(logging.DEBUG)
    for ms in range(50):
        log.on_error(KafkaError(KafkaError._TRANSPORT, f"Connect failed (after {ms}ms in state CONNECT)"))
        log.log(3, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", f"Connection refused (after {ms}ms)")
    assert len(caplog.records) == 2
    log.interval_s = 0.0
    log.on_error(KafkaError(KafkaError._TRANSPORT, "Connect failed (after 1ms in state CONNECT)"))
    assert caplog.records[-1].getMessage().endswith("repeated=49")


def test_diagnosis_uses_librdkafka_s_reason_and_the_setting_to_check() -> None:
    log = ClientLog("producer")
    log.on_error(
        KafkaError(KafkaError._TRANSPORT, "Disconnected: might be caused by incorrect security.protocol")
    )
    assert "incorrect security.protocol" in log.diagnosis()
    assert "check kafka.security_protocol" in log.diagnosis()


def test_an_unknown_librdkafka_property_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="No such configuration property"):
        make_client(Producer, {"bootstrap.servers": "127.0.0.1:1", "no.such.property": "1"})
