"""Kafka client options shared by every command's consumer and producer (SASL/SCRAM, TLS).

They map mechanically to librdkafka properties: the field name with `_` replaced by `.`
(`sasl_mechanism` -> `sasl.mechanism`, `ssl_ca_location` -> `ssl.ca.location`);
`KafkaSettings.extra` passes any other librdkafka property through unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

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
    }
)
_SECRET_HINTS = ("password", "secret", "token", "key.pem", "private")


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
    ssl_endpoint_identification_algorithm: Literal["https", "none"] | None = Field(
        default=None, description="check the broker's host name against its certificate"
    )
    topic_metadata_refresh_interval_ms: int = Field(
        default=10_000,
        ge=100,
        description="how often librdkafka refreshes metadata, so a new topic matching a ^regex "
        "subscription is read within this interval (librdkafka's own default is 5 minutes)",
    )
    extra: dict[str, str] = Field(
        default_factory=dict,
        description="any other librdkafka property, passed through as is; repeatable "
        "(never a password: use the environment)",
    )

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
        secret_keys = {
            n.replace("_", ".") for n in type(self).model_fields if isinstance(getattr(self, n), SecretStr)
        }
        return {
            k: "***" if k in secret_keys or any(h in k for h in _SECRET_HINTS) else v
            for k, v in self.client_config().items()
        }
