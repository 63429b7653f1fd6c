"""Webhook settings: the `webhook` part of config.Settings (`PAYSOURCE_WEBHOOK_*`).

Safe local defaults; config.Settings refuses the development signing key and
private networks outside development, where it knows the mode.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from paysource.application.webhooks.queue import DisablePolicy, RetrySchedule

# Derives every endpoint's secret in development; refused elsewhere.
DEVELOPMENT_SIGNING_KEY = "whk_development_only_not_a_secret"
MIN_SIGNING_KEY_LENGTH = 32


class WebhookSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    signing_key: SecretStr = SecretStr(DEVELOPMENT_SIGNING_KEY)
    allow_private_networks: bool = False

    retry_base_delay_s: float = Field(default=30.0, gt=0, le=3600)
    retry_max_delay_s: float = Field(default=6 * 3600.0, gt=0, le=24 * 3600)
    retry_budget: timedelta = timedelta(days=3)
    max_attempts: int = Field(default=40, ge=1, le=100)
    disable_after: timedelta = timedelta(days=3)
    disable_min_failures: int = Field(default=10, ge=1, le=10_000)

    delivery_lanes: int = Field(default=4, ge=1, le=64)
    # Claimed per lane at once, under one lease; the later ones of a batch wait behind
    # the first, so a larger batch needs a longer lease (checked below).
    delivery_batch_size: int = Field(default=1, ge=1, le=100)
    # Attempts in flight per merchant, across every lane and process (per endpoint: 1).
    max_in_flight_per_merchant: int = Field(default=2, ge=1, le=64)
    lease_s: float = Field(default=60.0, ge=1, le=3600)
    poll_interval_s: float = Field(default=0.5, gt=0, le=60)
    connect_timeout_s: float = Field(default=3.0, gt=0, le=30)
    read_timeout_s: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> WebhookSettings:
        key = self.signing_key.get_secret_value()
        if len(key) < MIN_SIGNING_KEY_LENGTH:
            raise ValueError(
                f"PAYSOURCE_WEBHOOK_SIGNING_KEY must be at least {MIN_SIGNING_KEY_LENGTH} chars"
            )
        # A lane attempts its whole batch one after another under one lease: every
        # attempt (at most connect + read timeout) must fit in it, with room to record
        # the last; a lease that lapsed first would let another lane send it too.
        attempt_s = self.connect_timeout_s + self.read_timeout_s
        needed_s = self.delivery_batch_size * attempt_s + self.read_timeout_s
        if self.lease_s < needed_s:
            raise ValueError(
                f"PAYSOURCE_WEBHOOK_LEASE_S ({self.lease_s:g}) is too short for the HTTP"
                f" timeouts and PAYSOURCE_WEBHOOK_DELIVERY_BATCH_SIZE"
                f" ({self.delivery_batch_size}): it must be at least {needed_s:g}"
                " (batch size * (connect + read timeout) + read timeout)"
            )
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
