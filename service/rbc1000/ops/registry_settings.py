"""Settings of the schema registry that resolves the schema ids of Confluent-framed input.

Credentials are secrets (`SecretStr`: no flag, masked in `rbc config show`): a URL given with
`user:password@` is taken apart when the settings are built, so the URL kept, shown and
logged carries none, and the password lands in `registry_password`. The retry and cache
behaviour these settings tune is described in `rbc1000.alerts.registry_client`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, model_validator

from rbc1000.alerts.registry_client import RegistryOptions, split_credentials


class RegistryClientSettings(BaseModel):
    """Where the input schema registry is, how to log in and how patiently to ask it."""

    registry_url: str | None = Field(
        default=None, description="Confluent schema registry for schema ids not found locally"
    )
    registry_username: str | None = Field(default=None, description="schema registry user (basic auth)")
    registry_password: SecretStr | None = None
    registry_token: SecretStr | None = None
    registry_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="seconds one schema registry request may take"
    )
    registry_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="tries of a schema lookup before the registry counts as unavailable (the "
        "service then stops without committing: no fault of the message)",
    )
    registry_backoff_s: float = Field(
        default=0.5, ge=0, le=30, description="seconds before the second try, doubling after each"
    )
    registry_unknown_ttl_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="seconds a schema id the registry answered 404 for stays unknown without asking again",
    )

    @model_validator(mode="after")
    def _credentials_out_of_the_url(self) -> RegistryClientSettings:
        if self.registry_url is None:
            return self
        clean, user, password = split_credentials(self.registry_url)
        self.registry_url = clean
        if user is not None and self.registry_username is None:
            self.registry_username = user
        if password is not None and self.registry_password is None:
            self.registry_password = SecretStr(password)
        return self

    def registry_options(self) -> RegistryOptions | None:
        """The client's options, secrets revealed; None without a registry URL."""
        if self.registry_url is None:
            return None
        return RegistryOptions(
            url=self.registry_url,
            username=self.registry_username,
            password=self.registry_password.get_secret_value() if self.registry_password else None,
            token=self.registry_token.get_secret_value() if self.registry_token else None,
            timeout_s=self.registry_timeout_s,
            attempts=self.registry_attempts,
            backoff_s=self.registry_backoff_s,
            unknown_ttl_s=self.registry_unknown_ttl_s,
        )
