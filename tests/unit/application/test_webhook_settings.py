"""Webhook settings: safe local defaults, and refusals of what is only safe locally."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from paysource.application.webhooks.settings import DEVELOPMENT_SIGNING_KEY, WebhookSettings
from paysource.config import Mode, Settings

STRONG_KEY = "w" * 40
NAMES = (
    "PAYSOURCE_ENV",
    "PAYSOURCE_ADMIN_KEY",
    "PAYSOURCE_JWT_SECRET",
    "PAYSOURCE_WEBHOOK_SIGNING_KEY",
    "PAYSOURCE_WEBHOOK_ALLOW_PRIVATE_NETWORKS",
    "PAYSOURCE_WEBHOOK_RETRY_BUDGET",
    "PAYSOURCE_WEBHOOK_MAX_IN_FLIGHT_PER_MERCHANT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_development_defaults_retry_for_three_days_and_refuse_private_networks() -> None:
    settings = Settings().webhook

    assert settings.signing_key.get_secret_value() == DEVELOPMENT_SIGNING_KEY
    assert settings.allow_private_networks is False
    assert settings.retry_schedule.budget == timedelta(days=3)
    assert settings.disable_policy.after == timedelta(days=3)


def test_development_defaults_keep_one_merchant_to_half_of_the_lanes() -> None:
    settings = Settings().webhook

    assert (settings.delivery_lanes, settings.max_in_flight_per_merchant) == (4, 2)
    assert settings.delivery_batch_size == 1, "a claimed delivery never waits behind another"
    # An attempt ends within connect + read timeout; the lease outlasts it.
    assert settings.lease_s >= 2 * (settings.connect_timeout_s + settings.read_timeout_s)


def test_settings_come_from_paysource_webhook_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSOURCE_ENV", "test")
    monkeypatch.setenv("PAYSOURCE_WEBHOOK_SIGNING_KEY", STRONG_KEY)
    monkeypatch.setenv("PAYSOURCE_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("PAYSOURCE_WEBHOOK_RETRY_BUDGET", "PT1H")
    monkeypatch.setenv("PAYSOURCE_WEBHOOK_MAX_IN_FLIGHT_PER_MERCHANT", "3")

    settings = Settings(admin_key=STRONG_KEY)

    assert settings.env is Mode.TEST
    assert settings.webhook.allow_private_networks is True
    assert settings.webhook.retry_schedule.budget == timedelta(hours=1)
    assert settings.webhook.max_in_flight_per_merchant == 3


@pytest.mark.parametrize("mode", [Mode.TEST, Mode.PRODUCTION])
def test_the_development_signing_key_is_refused_outside_development(mode: Mode) -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SIGNING_KEY is the development default"):
        Settings(
            env=mode,
            admin_key=STRONG_KEY,
            jwt_secret=STRONG_KEY,
            database_url="postgresql://db/p",
            redis_url="redis://r",
        )


def test_a_short_signing_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        WebhookSettings(signing_key="short")


def test_private_networks_are_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="refused in production"):
        Settings(
            env=Mode.PRODUCTION,
            admin_key=STRONG_KEY,
            jwt_secret=STRONG_KEY,
            database_url="postgresql://db/p",
            redis_url="redis://r",
            webhook=WebhookSettings(signing_key=STRONG_KEY, allow_private_networks=True),
        )


def test_a_lease_shorter_than_one_attempt_is_refused() -> None:
    with pytest.raises(ValidationError, match="too short"):
        WebhookSettings(lease_s=5, connect_timeout_s=3, read_timeout_s=10)


def test_a_lease_shorter_than_a_batch_of_attempts_is_refused() -> None:
    # A lane attempts its batch one after another under one lease: 4 * 13 s + 10 s > 60 s,
    # so the fourth delivery's lease would lapse before its attempt ends.
    with pytest.raises(ValidationError) as refused:
        WebhookSettings(delivery_batch_size=4, lease_s=60, connect_timeout_s=3, read_timeout_s=10)

    message = str(refused.value)
    assert "PAYSOURCE_WEBHOOK_LEASE_S" in message
    assert "PAYSOURCE_WEBHOOK_DELIVERY_BATCH_SIZE" in message
    assert "at least 62" in message


def test_a_lease_that_outlasts_the_whole_batch_is_accepted() -> None:
    settings = WebhookSettings(
        delivery_batch_size=4, lease_s=62, connect_timeout_s=3, read_timeout_s=10
    )

    assert settings.delivery_batch_size == 4
