"""librdkafka's clients built with the project's logging: de-duplicated errors and log lines,
a refused property as a usage error, and a diagnosis in librdkafka's own words."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from rbc1000.ops.cli_flags import UsageError
from rbc1000.ops.kafka_settings import MASK, is_secret_key

ERROR_LOG_INTERVAL_S = 30.0
_DIGITS = re.compile(r"\d+")


class KafkaConfigError(UsageError):
    """librdkafka refused a property (unknown name or bad value): a usage error, exit 2."""


class ClientLog:
    """librdkafka's errors and log lines through the project's logger, de-duplicated.

    A broker that does not answer makes librdkafka repeat the same error many times a second.
    Each distinct message (digits ignored, so `after 3ms` and `after 5ms` are one) is logged
    once per `interval_s`, with how many times it was repeated since it was last logged. Used as
    the client's `error_cb` and as its `logger` (librdkafka then calls `log(level, fmt, *args)`
    from `poll` instead of writing to stderr). Never raises: it runs inside librdkafka's calls.
    """

    def __init__(self, client: str, interval_s: float = ERROR_LOG_INTERVAL_S) -> None:
        self.client = client
        self.interval_s = interval_s
        self.last_error: KafkaError | None = None
        self._seen: dict[str, list[float]] = {}  # key -> [time last logged, repeats since]
        self._logger = logging.getLogger("rbc1000.stream.librdkafka")

    def emit(self, level: int, event: str, text: str) -> None:
        """Log `event text` unless the same text was logged less than `interval_s` ago."""
        key = f"{event} {_DIGITS.sub('N', text)}"
        now = time.monotonic()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.interval_s:
            entry[1] += 1
            return
        repeats = int(entry[1]) if entry is not None else 0
        self._seen[key] = [now, 0]
        suffix = f" repeated={repeats}" if repeats else ""
        self._logger.log(level, "%s client=%s %s%s", event, self.client, text, suffix)

    def on_error(self, err: KafkaError) -> None:
        """The client's `error_cb`."""
        self.last_error = err
        self.emit(
            logging.ERROR if err.fatal() else logging.WARNING,
            "kafka_error",
            f"code={err.name()} fatal={err.fatal()} reason={err.str()}",
        )

    def log(self, level: int, fmt: str, *args: Any) -> None:
        """The client's `logger`: librdkafka calls it with (facility, client name, message)."""
        try:
            message = fmt % args if args else fmt
        except TypeError:
            message = " ".join(str(a) for a in (fmt, *args))
        self.emit(max(level, logging.DEBUG), "librdkafka", f"message={message}")

    def diagnosis(self) -> str:
        """librdkafka's own reason for the last error, and which setting to look at."""
        if self.last_error is None:
            return "no error reported; check kafka.bootstrap_servers"
        reason = self.last_error.str()
        hint = "kafka.bootstrap_servers"
        if any(w in reason.lower() for w in ("security.protocol", "ssl", "sasl", "handshake", "authentic")):
            hint = "kafka.security_protocol and the kafka.sasl_*/ssl_* settings"
        return f"{self.last_error.name()}: {reason}; check {hint}"


def client_settings(client_config: Mapping[str, str], log: ClientLog) -> dict[str, Any]:
    """librdkafka properties plus the callbacks that route its errors and logs through `log`."""
    return {**client_config, "error_cb": log.on_error, "logger": log}


def make_client(kind: Callable[[dict[str, Any]], Any], config: dict[str, Any]) -> Any:
    """Build a librdkafka client; a property it refuses is a usage error naming it."""
    try:
        return kind(config)
    except KafkaException as exc:
        raise KafkaConfigError(
            f"kafka: {_scrubbed(exc.args[0].str(), config)} (see kafka.* settings and --kafka-option)"
        ) from None
    except (TypeError, ValueError) as exc:
        raise KafkaConfigError(
            f"kafka: {_scrubbed(str(exc), config)} (see kafka.* settings and --kafka-option)"
        ) from None


def _scrubbed(text: str, config: Mapping[str, Any]) -> str:
    """`text` without the value of any secret property, should librdkafka ever quote one."""
    for key, value in config.items():
        if is_secret_key(key) and isinstance(value, str) and value:
            text = text.replace(value, MASK)
    return text


def admin_client(client_config: Mapping[str, str]) -> AdminClient:
    """An Admin API client with the same properties and log routing as the others."""
    return make_client(AdminClient, client_settings(client_config, ClientLog("admin")))  # type: ignore[no-any-return]
