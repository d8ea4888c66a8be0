"""Output schemas registered in a Confluent-compatible schema registry, for the Confluent framing.

At start, before anything is consumed, each output topic's schema is registered under the
TopicNameStrategy subject `<topic>-value`, after the registry has said that it is compatible
with the latest version already there. The ids the registry returns are the ones the service
frames its records with, so a consumer using the registry (confluent-kafka's
`AvroDeserializer`, Kafka Connect) finds them. Plain HTTP through the standard library, as the
input side's `rbc1000.alerts.registry` does.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from rbc1000.alerts.registry_client import redact_url
from rbc1000.ops.topic_settings import OutputFramingOptions

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_NOT_FOUND = (40401, 40402, 40403)  # subject, version or schema not found


class RegistrationError(RuntimeError):
    """A schema could not be registered; the message names the subject and what to do."""


def subject_of(topic: str) -> str:
    """The TopicNameStrategy subject of a topic's message values."""
    return f"{topic}-value"


def _call(url: str, payload: Mapping[str, Any], timeout_s: float) -> tuple[int, dict[str, Any]]:
    """POST `payload`; (HTTP status, decoded JSON body). Raises OSError when nobody answers."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {"message": str(exc)}
        return int(exc.code), body if isinstance(body, dict) else {"message": str(body)}


def register_schema(registry_url: str, topic: str, schema: Mapping[str, Any], timeout_s: float = 10.0) -> int:
    """Check `schema` against `<topic>-value`'s latest version, register it, return its id."""
    base = registry_url.rstrip("/")
    subject = urllib.parse.quote(subject_of(topic), safe="")
    payload = {"schema": json.dumps(schema), "schemaType": "AVRO"}
    where = f"schema registry {redact_url(base)}, subject {subject_of(topic)}"
    try:
        status, body = _call(f"{base}/compatibility/subjects/{subject}/versions/latest", payload, timeout_s)
        if status == 200 and body.get("is_compatible") is False:
            reasons = "; ".join(str(m) for m in body.get("messages") or []) or "no reason given"
            raise RegistrationError(
                f"{where}: the schema is not compatible with the latest version ({reasons}); publish "
                "to a new topic, or relax the subject's compatibility level"
            )
        if status != 200 and body.get("error_code") not in _NOT_FOUND:
            raise RegistrationError(
                f"{where}: compatibility check failed: HTTP {status} {body.get('message')}"
            )
        status, body = _call(f"{base}/subjects/{subject}/versions", payload, timeout_s)
    except OSError as exc:
        raise RegistrationError(f"{where}: no answer ({exc}); check output_registry_url") from None
    if status != 200 or not isinstance(body.get("id"), int):
        raise RegistrationError(f"{where}: registration refused: HTTP {status} {body.get('message')}")
    return int(body["id"])


def register_topics(
    registry_url: str, schemas: Mapping[str, Mapping[str, Any]], timeout_s: float = 10.0
) -> dict[str, int]:
    """Register each topic's schema (topic -> schema JSON); topic -> the id the registry gave."""
    return {
        topic: register_schema(registry_url, topic, schema, timeout_s) for topic, schema in schemas.items()
    }


def output_schema_ids(
    options: OutputFramingOptions, schemas: Mapping[str, Mapping[str, Any]]
) -> dict[str, int] | None:
    """The ids each topic's schema has under the Confluent framing, registered now; None for
    containers, which carry their schema and need no registry.

    Raises `RegistrationError` (the registry is away or refuses a schema) before anything is
    published.
    """
    if options.output_framing == "container" or options.output_registry_url is None:
        return None
    ids = register_topics(options.output_registry_url, schemas)
    logging.getLogger(__name__).info(
        "output_schemas_registered ids=%s", ",".join(f"{t}-value:{i}" for t, i in ids.items())
    )
    return ids
