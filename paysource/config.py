"""All configuration, read once from the environment (`PAYSOURCE_*`).

Safe local defaults make `paysource serve` work on a bare machine; values that are
only safe on a developer's machine are refused outside development mode.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paysource.application.webhooks.settings import DEVELOPMENT_SIGNING_KEY, WebhookSettings
from paysource.domain.schedule import DailySchedule

# Documented in the README so a developer can call the admin API at once. Refused at
# start-up unless PAYSOURCE_ENV=development.
DEVELOPMENT_ADMIN_KEY = "psk_admin_development_only"
MIN_ADMIN_KEY_LENGTH = 32
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Mode(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    # PAYSOURCE_WEBHOOK_SIGNING_KEY sets `webhook.signing_key`: one split after the
    # prefix reaches into the nested `webhook` settings; other names stay flat.
    model_config = SettingsConfigDict(
        env_prefix="PAYSOURCE_",
        extra="ignore",
        frozen=True,
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    env: Mode = Mode.DEVELOPMENT
    # Unset: `paysource serve` starts local servers under `local_dir`.
    database_url: str | None = None
    redis_url: str | None = None
    local_dir: Path = PROJECT_ROOT / ".local"
    migrations_dir: Path = PROJECT_ROOT / "migrations"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    admin_key: SecretStr = SecretStr(DEVELOPMENT_ADMIN_KEY)
    # Signs the short-lived JWTs merchants mint for their frontends (POST /v1/tokens).
    # Unset: derived from the admin key (development); required outside development.
    jwt_secret: SecretStr | None = None

    # Event store connections per process (eventsourcing's pool) and read connections.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    read_pool_size: int = Field(default=10, ge=1, le=200)

    hold_ttl: timedelta = timedelta(days=7)
    expiry_sweep_interval_s: float = Field(default=60.0, gt=0)
    worker_partitions: int = Field(default=4, ge=1, le=64)
    worker_threads: int = Field(default=8, ge=1, le=128)
    worker_batch_size: int = Field(default=100, ge=1, le=5000)
    follower_poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    acquirer_latency_ms: int = Field(default=0, ge=0, le=60_000)
    acquirer_retry_attempts: int = Field(default=3, ge=1, le=10)
    acquirer_retry_base_delay_s: float = Field(default=0.2, ge=0, le=30)

    idempotency_cache_ttl_s: int = Field(default=48 * 3600, ge=24 * 3600)
    idempotency_lock_ttl_s: int = Field(default=30, ge=1, le=600)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    prefer_wait_max_s: int = Field(default=10, ge=0, le=60)
    rate_limit_per_s: int = Field(default=200, ge=1)

    # Settlements: cut off daily at a UTC time ("daily@HH:MM"), or "off" (on demand only).
    settlement_schedule: str = "daily@00:00"
    settlement_tick_s: float = Field(default=30.0, gt=0)
    payout_retry_attempts: int = Field(default=3, ge=1, le=10)
    payout_retry_base_delay_s: float = Field(default=0.5, ge=0, le=60)
    # The bank rail simulator (test mode): latency, and merchants (mer_… or UUIDs,
    # comma-separated) whose payouts it refuses or never answers.
    bank_latency_ms: int = Field(default=0, ge=0, le=60_000)
    bank_refuse_merchants: str = ""
    bank_timeout_merchants: str = ""
    bank_max_payout_minor: int | None = Field(default=None, ge=1)

    # Webhooks: PAYSOURCE_WEBHOOK_* (see docs/webhooks.md).
    webhook: WebhookSettings = WebhookSettings()

    # What `paysource serve` runs beside the API: the worker as a child process (its own
    # core and GIL: the default), in the API's process ("thread"), or nothing ("off").
    serve_worker: Literal["process", "thread", "off"] = "process"
    log_level: str = "INFO"
    # "auto": JSON lines in production, readable lines elsewhere (docs/observability.md).
    log_format: Literal["auto", "json", "text"] = "auto"
    # Traces: spans are always made (every event gets a traceparent); exported over
    # OTLP/HTTP only when an endpoint is set, to the console only when asked.
    otlp_endpoint: str | None = None
    trace_console: bool = False

    @model_validator(mode="after")
    def _check_schedule(self) -> Settings:
        DailySchedule.parse(self.settlement_schedule)  # fails fast on a typo
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> Settings:
        if self.env is Mode.DEVELOPMENT:
            if self.host not in LOOPBACK_HOSTS:
                # Development's keys are documented: serve them to this machine only.
                raise ValueError(
                    f"PAYSOURCE_HOST={self.host} needs PAYSOURCE_ENV=production (or test):"
                    " development mode serves loopback only"
                )
            return self
        admin_key = self.admin_key.get_secret_value()
        if admin_key == DEVELOPMENT_ADMIN_KEY:
            raise ValueError(
                f"PAYSOURCE_ADMIN_KEY is the development default; set a secret of at least "
                f"{MIN_ADMIN_KEY_LENGTH} characters for PAYSOURCE_ENV={self.env}"
            )
        if len(admin_key) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(f"PAYSOURCE_ADMIN_KEY must be at least {MIN_ADMIN_KEY_LENGTH} chars")
        if self.webhook.signing_key.get_secret_value() == DEVELOPMENT_SIGNING_KEY:
            raise ValueError(
                "PAYSOURCE_WEBHOOK_SIGNING_KEY is the development default; set a secret of"
                f" at least {MIN_ADMIN_KEY_LENGTH} characters for PAYSOURCE_ENV={self.env}"
            )
        if self.env is Mode.PRODUCTION and self.webhook.allow_private_networks:
            raise ValueError("PAYSOURCE_WEBHOOK_ALLOW_PRIVATE_NETWORKS is refused in production")
        if self.env is Mode.PRODUCTION and not (self.database_url and self.redis_url):
            raise ValueError(
                "PAYSOURCE_DATABASE_URL and PAYSOURCE_REDIS_URL are required in production"
            )
        jwt_secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if self.env is Mode.PRODUCTION and len(jwt_secret) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(
                f"PAYSOURCE_JWT_SECRET must be set to at least {MIN_ADMIN_KEY_LENGTH} characters"
                " in production"
            )
        return self

    @property
    def development(self) -> bool:
        return self.env is Mode.DEVELOPMENT
