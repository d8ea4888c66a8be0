"""Kafka client options shared by every command's consumer and producer (SASL/SCRAM, TLS).

They map mechanically to librdkafka properties: the field name with `_` replaced by `.`
(`sasl_mechanism` -> `sasl.mechanism`, `ssl_ca_location` -> `ssl.ca.location`);
`KafkaSettings.extra` passes any other librdkafka property through unchanged.

Every librdkafka property whose value is a secret (`SECRET_KAFKA_KEYS`) is a `SecretStr`
field: it has no flag (`--kafka-option sasl.password=...` is refused, flags show in `ps`),
it comes from the environment (`RBC_KAFKA__SASL_PASSWORD`) or the config file, and it is
masked wherever settings or client configurations are printed or logged (`masked`). Given
in `extra` through the environment or the file, it is moved into its field.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from rbc1000.ops.cli_flags import SecretKeys

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]

# Properties the service sets itself because its delivery guarantee depends on them.
RESERVED_KAFKA_KEYS = frozenset(
    {
        "group.id",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "enable.idempotence",
        "acks",
        "bootstrap.servers",
        "transactional.id",
    }
)
READ_COMMITTED = "read_committed"
# librdkafka properties flagged _RK_SENSITIVE in its rdkafka_conf.c whose values are secrets
# (the others so flagged, sasl.username, ssl.ca.pem and key file paths, are not), each with
# the field that holds it; librdkafka's alias of the OIDC client secret maps to the same field.
SECRET_KAFKA_KEYS: dict[str, str] = {
    "sasl.password": "sasl_password",
    "sasl.oauthbearer.config": "sasl_oauthbearer_config",
    "sasl.oauthbearer.client.secret": "sasl_oauthbearer_client_secret",
    "sasl.oauthbearer.client.credentials.client.secret": "sasl_oauthbearer_client_secret",
    "sasl.oauthbearer.assertion.private.key.passphrase": "sasl_oauthbearer_assertion_private_key_passphrase",
    "sasl.oauthbearer.assertion.private.key.pem": "sasl_oauthbearer_assertion_private_key_pem",
    "ssl.key.password": "ssl_key_password",
    "ssl.key.pem": "ssl_key_pem",
    "ssl.keystore.password": "ssl_keystore_password",
}
# Masked in logs too, in case a newer librdkafka adds a secret property passed through `extra`.
_SECRET_HINTS = ("password", "secret", "token", "key.pem", "private", "passphrase", "credential")
MASK = "***"


def is_secret_key(key: str) -> bool:
    """Whether the librdkafka property `key` holds (or may hold) a secret."""
    return key in SECRET_KAFKA_KEYS or any(h in key for h in _SECRET_HINTS)


def masked(config: Mapping[str, Any]) -> dict[str, str]:
    """A librdkafka configuration safe to print or log: secret values replaced by `***`."""
    return {k: MASK if is_secret_key(k) else str(v) for k, v in config.items()}


def transactional_id(group_id: str, instance_id: str | None) -> str:
    """The producer's `transactional.id` under `--exactly-once`: `<group id>.<instance id>`,
    the instance id defaulting to the host name.

    It must stay the same across restarts of one instance: the restarted producer then fences
    its crashed predecessor and aborts the transaction it left open at once, instead of
    read_committed consumers waiting for `transaction.timeout.ms`. It must differ between
    instances running at the same time, which would otherwise fence each other. The group id
    in it keeps two services on one broker apart.
    """
    return f"{group_id}.{instance_id or socket.gethostname()}"


class KafkaSettings(BaseModel):
    """Kafka client options shared by the consumer and the producer (SASL/SCRAM, TLS)."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]"
    )
    client_id: str = Field(default="rbc", description="client id the broker logs and quotas see")
    security_protocol: SecurityProtocol = Field(default="PLAINTEXT", description="how to reach the broker")
    sasl_mechanism: SaslMechanism | None = Field(default=None, description="SASL mechanism")
    sasl_username: str | None = Field(default=None, description="SASL user name")
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = Field(default=None, description="CA certificate file (PEM)")
    ssl_certificate_location: str | None = Field(default=None, description="client certificate (PEM)")
    ssl_key_location: str | None = Field(default=None, description="client private key file (PEM)")
    ssl_key_password: SecretStr | None = None
    ssl_key_pem: SecretStr | None = None
    ssl_keystore_password: SecretStr | None = None
    sasl_oauthbearer_config: SecretStr | None = None
    sasl_oauthbearer_client_secret: SecretStr | None = None
    sasl_oauthbearer_assertion_private_key_passphrase: SecretStr | None = None
    sasl_oauthbearer_assertion_private_key_pem: SecretStr | None = None
    ssl_endpoint_identification_algorithm: Literal["https", "none"] | None = Field(
        default=None, description="check the broker's host name against its certificate"
    )
    topic_metadata_refresh_interval_ms: int = Field(
        default=10_000,
        ge=100,
        description="how often librdkafka refreshes metadata, so a new topic matching a ^regex "
        "subscription is read within this interval (librdkafka's own default is 5 minutes)",
    )
    extra: Annotated[dict[str, str], SecretKeys(SECRET_KAFKA_KEYS)] = Field(
        default_factory=dict,
        description="any other librdkafka property, passed through as is; repeatable "
        "(never a secret: those come from the environment or the config file)",
    )

    @model_validator(mode="before")
    @classmethod
    def _secrets_out_of_extra(cls, data: Any) -> Any:
        """A secret property given in `extra` (environment or file) moves into its field."""
        if not isinstance(data, dict) or not isinstance(data.get("extra"), dict):
            return data
        extra = dict(data["extra"])
        moved = {}
        for key in [k for k in extra if k in SECRET_KAFKA_KEYS]:
            name = SECRET_KAFKA_KEYS[key]
            if data.get(name) is not None or name in moved:
                raise ValueError(f"kafka {key} is given twice (as {name} and in extra)")
            moved[name] = extra.pop(key)
        return {**data, **moved, "extra": extra} if moved else data

    @model_validator(mode="after")
    def _check_security(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_"):
            missing = [
                n for n in ("sasl_mechanism", "sasl_username", "sasl_password") if getattr(self, n) is None
            ]
            if missing and self.sasl_mechanism != "OAUTHBEARER":
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs {missing} "
                    "(for example RBC_KAFKA__SASL_PASSWORD)"
                )
        reserved = sorted(RESERVED_KAFKA_KEYS & set(self.extra))
        if reserved:
            raise ValueError(
                f"kafka.extra may not set {reserved}: the service sets them "
                "(use the dedicated settings instead)"
            )
        return self

    def client_config(self) -> dict[str, str]:
        """librdkafka properties: every set field, `_` -> `.`, secrets revealed, then `extra`."""
        config: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "extra" or value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            config[name.replace("_", ".")] = str(value)
        config.update(self.extra)
        return config

    def redacted(self) -> dict[str, str]:
        """`client_config()` safe to log: secret values replaced by `***`."""
        return masked(self.client_config())
