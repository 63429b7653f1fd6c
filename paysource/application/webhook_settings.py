"""Webhook settings, read from `PAYSOURCE_WEBHOOK_*` (until they join config.Settings).

Like the main settings class, it has safe local defaults and refuses the
development signing key outside development mode.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paysource.application.webhook_delivery import DisablePolicy, RetrySchedule
from paysource.config import Mode

# Derives every endpoint's secret in development; refused elsewhere.
DEVELOPMENT_SIGNING_KEY = "whk_development_only_not_a_secret"
MIN_SIGNING_KEY_LENGTH = 32


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAYSOURCE_WEBHOOK_", extra="ignore", frozen=True, populate_by_name=True
    )

    # PAYSOURCE_ENV, read here too so this class can check the signing key on its own.
    env: Mode = Field(default=Mode.DEVELOPMENT, validation_alias="PAYSOURCE_ENV")
    signing_key: SecretStr = SecretStr(DEVELOPMENT_SIGNING_KEY)
    allow_private_networks: bool = False

    retry_base_delay_s: float = Field(default=30.0, gt=0, le=3600)
    retry_max_delay_s: float = Field(default=6 * 3600.0, gt=0, le=24 * 3600)
    retry_budget: timedelta = timedelta(days=3)
    max_attempts: int = Field(default=40, ge=1, le=100)
    disable_after: timedelta = timedelta(days=3)
    disable_min_failures: int = Field(default=10, ge=1, le=10_000)

    delivery_lanes: int = Field(default=4, ge=1, le=64)
    delivery_batch_size: int = Field(default=4, ge=1, le=100)
    lease_s: float = Field(default=300.0, ge=1, le=3600)
    poll_interval_s: float = Field(default=0.5, gt=0, le=60)
    connect_timeout_s: float = Field(default=3.0, gt=0, le=30)
    read_timeout_s: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> WebhookSettings:
        key = self.signing_key.get_secret_value()
        if self.env is not Mode.DEVELOPMENT and key == DEVELOPMENT_SIGNING_KEY:
            raise ValueError(
                "PAYSOURCE_WEBHOOK_SIGNING_KEY is the development default; set a secret of"
                f" at least {MIN_SIGNING_KEY_LENGTH} characters for PAYSOURCE_ENV={self.env}"
            )
        if len(key) < MIN_SIGNING_KEY_LENGTH:
            raise ValueError(
                f"PAYSOURCE_WEBHOOK_SIGNING_KEY must be at least {MIN_SIGNING_KEY_LENGTH} chars"
            )
        if self.env is Mode.PRODUCTION and self.allow_private_networks:
            raise ValueError("PAYSOURCE_WEBHOOK_ALLOW_PRIVATE_NETWORKS is refused in production")
        # One attempt at least must fit in the lease (connect, send, read the status).
        if self.lease_s < self.connect_timeout_s + 2 * self.read_timeout_s:
            raise ValueError("PAYSOURCE_WEBHOOK_LEASE_S is too short for the HTTP timeouts")
        return self

    @property
    def retry_schedule(self) -> RetrySchedule:
        return RetrySchedule(
            base_delay_s=self.retry_base_delay_s,
            max_delay_s=self.retry_max_delay_s,
            budget=self.retry_budget,
            max_attempts=self.max_attempts,
        )

    @property
    def disable_policy(self) -> DisablePolicy:
        return DisablePolicy(after=self.disable_after, min_failures=self.disable_min_failures)
