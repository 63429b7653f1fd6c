"""Settings fail fast on values that are only safe on a developer's machine."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr, ValidationError

from paysource.application.webhooks.settings import WebhookSettings
from paysource.config import (
    DEVELOPMENT_ADMIN_KEY,
    DEVELOPMENT_PII_MASTER_KEY,
    Mode,
    Settings,
    mask_url,
)

STRONG_KEY = "k" * 40
STRONG_WEBHOOK = WebhookSettings(signing_key="w" * 40)
STRONG_PII_KEY = base64.b64encode(b"p" * 32).decode()


def test_development_mode_runs_with_safe_local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PAYSOURCE_ENV", "PAYSOURCE_ADMIN_KEY", "PAYSOURCE_HOLD_TTL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()

    assert settings.env is Mode.DEVELOPMENT
    assert settings.admin_key.get_secret_value() == DEVELOPMENT_ADMIN_KEY
    assert settings.hold_ttl.days == 7
    assert settings.idempotency_cache_ttl_s >= 24 * 3600


@pytest.mark.parametrize("mode", [Mode.TEST, Mode.PRODUCTION])
def test_the_development_admin_key_is_refused_outside_development(mode: Mode) -> None:
    with pytest.raises(ValidationError, match="development default"):
        Settings(env=mode, database_url="postgresql://x/y", redis_url="redis://x")


def test_a_short_admin_key_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env=Mode.TEST, admin_key="short")


def test_production_requires_explicit_database_and_redis() -> None:
    with pytest.raises(ValidationError, match="required in production"):
        Settings(env=Mode.PRODUCTION, admin_key=STRONG_KEY, webhook=STRONG_WEBHOOK)

    settings = Settings(
        env=Mode.PRODUCTION,
        admin_key=STRONG_KEY,
        jwt_secret=STRONG_KEY,
        pii_master_key=STRONG_PII_KEY,
        webhook=STRONG_WEBHOOK,
        database_url="postgresql://db/paysource",
        redis_url="redis://cache:6379/0",
    )
    assert settings.env is Mode.PRODUCTION


def test_production_requires_a_jwt_secret() -> None:
    with pytest.raises(ValidationError, match="PAYSOURCE_JWT_SECRET"):
        Settings(
            env=Mode.PRODUCTION,
            admin_key=STRONG_KEY,
            webhook=STRONG_WEBHOOK,
            database_url="postgresql://db/paysource",
            redis_url="redis://cache:6379/0",
        )


@pytest.mark.parametrize("key", [None, DEVELOPMENT_PII_MASTER_KEY])
def test_production_requires_its_own_pii_master_key(key: str | None) -> None:
    with pytest.raises(ValidationError, match="PAYSOURCE_PII_MASTER_KEY"):
        Settings(
            env=Mode.PRODUCTION,
            admin_key=STRONG_KEY,
            jwt_secret=STRONG_KEY,
            pii_master_key=key,
            webhook=STRONG_WEBHOOK,
            database_url="postgresql://db/paysource",
            redis_url="redis://cache:6379/0",
        )


@pytest.mark.parametrize("key", ["short", base64.b64encode(b"k" * 16).decode(), "!" * 44])
def test_a_pii_master_key_that_is_not_32_bytes_of_base64_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="32 random bytes in base64"):
        Settings(pii_master_key=key)


def test_development_and_test_modes_fall_back_to_the_development_pii_key() -> None:
    assert Settings().pii_master_key_bytes == base64.b64decode(DEVELOPMENT_PII_MASTER_KEY)


def test_settings_are_read_from_paysource_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYSOURCE_PORT", "8123")
    monkeypatch.setenv("PAYSOURCE_HOLD_TTL", "P2D")

    settings = Settings()

    assert settings.port == 8123
    assert settings.hold_ttl.days == 2


def test_an_idempotency_cache_shorter_than_a_day_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(idempotency_cache_ttl_s=3600)


def test_development_mode_refuses_to_listen_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PAYSOURCE_ENV", raising=False)
    with pytest.raises(ValidationError, match="loopback only"):
        Settings(host="0.0.0.0")

    assert Settings(host="localhost").host == "localhost"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/paysource", "postgresql://app:***@db:5432/paysource"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "postgresql://postgres@127.0.0.1:5432/paysource",
            "postgresql://postgres@127.0.0.1:5432/paysource",
        ),
    ],
)
def test_a_printed_url_never_shows_its_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_a_url_of_the_wrong_kind_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(database_url="mysql://app:s3cret@db/x", redis_url="http://cache")

    assert "s3cret" not in str(refused.value.errors(include_input=False))
    assert {error["loc"][0] for error in refused.value.errors()} == {"database_url", "redis_url"}


def test_each_cell_reads_only_its_own_standbys() -> None:
    # A standby replicates one cluster: cell-1 reading cell-0's standby would see none of
    # its merchants' rows (the bug before per-cell standbys).
    settings = Settings(
        read_replica_urls=SecretStr("postgresql://r0a/db, postgresql://r0b/db"),
        cell_replica_urls=SecretStr("cell-1=postgresql://r1/db;cell-2=postgresql://r2/db"),
    )
    assert settings.replica_urls_for("cell-0") == ["postgresql://r0a/db", "postgresql://r0b/db"]
    assert settings.replica_urls_for("cell-1") == ["postgresql://r1/db"]
    assert settings.replica_urls_for("cell-3") == []
    assert (
        Settings(read_replica_urls=SecretStr("postgresql://r0/db")).replica_urls_for("cell-1") == []
    )


@pytest.mark.parametrize(
    "text",
    ["cell-0=postgresql://r/db", "cell-1=", "cell-1=mysql://r/db", "nocell=postgresql://r/db"],
)
def test_a_bad_standby_entry_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(cell_replica_urls=SecretStr(text + ":secret@"))
    assert "secret" not in str(refused.value)
