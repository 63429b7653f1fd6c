"""All configuration, read once from the environment (`PAYSOURCE_*`).

Safe local defaults make `paysource serve` work on a bare machine; values that are
only safe on a developer's machine are refused outside development mode.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paysource.application.audit import DEVELOPMENT_AUDIT_SEED, parse_seed
from paysource.application.webhooks.settings import DEVELOPMENT_SIGNING_KEY, WebhookSettings
from paysource.domain.errors import InvalidValue
from paysource.domain.schedule import DailySchedule

# Documented in the README so a developer can call the admin API at once. Refused at
# start-up unless PAYSOURCE_ENV=development.
DEVELOPMENT_ADMIN_KEY = "psk_admin_development_only"
MIN_ADMIN_KEY_LENGTH = 32
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Inside the package, so a wheel ships them (see pyproject's package data).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Wraps the per-customer keys of personal data (docs/audit.md, "Erasing personal data").
# Documented, so refused in production; 32 bytes, base64.
DEVELOPMENT_PII_MASTER_KEY = base64.b64encode(b"paysource-development-pii-key-32").decode()
PII_MASTER_KEY_BYTES = 32
DATABASE_SCHEMES = frozenset({"postgresql", "postgres"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


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
    migrations_dir: Path = MIGRATIONS_DIR

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    admin_key: SecretStr = SecretStr(DEVELOPMENT_ADMIN_KEY)
    # Signs the short-lived JWTs merchants mint for their frontends (POST /v1/tokens).
    # Unset: derived from the admin key (development); required outside development.
    jwt_secret: SecretStr | None = None
    # Keys the HMAC that events store instead of the Idempotency-Key. Unset: derived
    # from the admin key; set it so digests stay comparable when the admin key rotates.
    idempotency_key_secret: SecretStr | None = None
    # Wraps every customer's data key: 32 random bytes in base64 (`openssl rand -base64
    # 32`). Unset: the development key; required in production. Losing it loses every
    # customer's personal data, as if all were erased: keep it like a database backup.
    pii_master_key: SecretStr | None = None

    # Event store connections per process (eventsourcing's pool) and read connections.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    read_pool_size: int = Field(default=10, ge=1, le=200)
    # The most an API request waits for Postgres, all checkouts and retries included;
    # past it the client gets 503 + Retry-After (docs/operations.md). Workers have none.
    db_request_budget_s: float = Field(default=2.0, gt=0, le=60)

    # Group commit (application/group_commit.py): saves waiting together share one
    # transaction and one lock of the log. A batch waits at most this long for company.
    group_commit: bool = True
    group_commit_window_ms: float = Field(default=1.0, ge=0, le=50)
    group_commit_max_batch: int = Field(default=64, ge=1, le=1000)

    hold_ttl: timedelta = timedelta(days=7)
    expiry_sweep_interval_s: float = Field(default=60.0, gt=0)
    worker_partitions: int = Field(default=4, ge=1, le=64)
    worker_threads: int = Field(default=8, ge=1, le=128)
    # Events a worker's follower reads and applies in one transaction, at most. Each batch
    # costs a transaction and a few statements whatever its size; at 500 payments/s a
    # lingered batch of 100 was full, so the linger could not make batches bigger: 500 cut
    # the CPU of a payment end to end by a fifth (bench/README.md, stop 34).
    worker_batch_size: int = Field(default=500, ge=1, le=5000)
    follower_poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    acquirer_latency_ms: int = Field(default=0, ge=0, le=60_000)
    acquirer_retry_attempts: int = Field(default=3, ge=1, le=10)
    acquirer_retry_base_delay_s: float = Field(default=0.2, ge=0, le=30)
    # A follower under load (its batches passed 100 events of the log in the last second)
    # waits this long before reading on, once woken or after a batch that was not full,
    # so the commits of that moment make one batch (eventlog.Linger). 0 turns it off.
    follower_linger_s: float = Field(default=0.15, ge=0, le=5)

    idempotency_cache_ttl_s: int = Field(default=48 * 3600, ge=24 * 3600)
    idempotency_lock_ttl_s: int = Field(default=30, ge=1, le=600)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    prefer_wait_max_s: int = Field(default=10, ge=0, le=60)
    # How long closing a settlement or importing a reconciliation file waits for its read
    # model to apply what was committed before it (application/caught_up.py), then 503.
    read_model_wait_s: float = Field(default=5.0, gt=0, le=60)
    rate_limit_per_s: int = Field(default=200, ge=1)
    # Open GraphQL websockets per merchant (all its credentials) or staff key, per process.
    max_websockets_per_owner: int = Field(default=50, ge=1, le=10_000)

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

    # The audit log (docs/audit.md): the Ed25519 seed that signs tree heads (64 hex digits
    # or base64; unset: a public development seed, refused in production), how often a
    # head is signed, and how many positions of the log one append batch covers.
    audit_signing_key: SecretStr | None = None
    audit_head_interval_s: float = Field(default=10.0, ge=0, le=3600)
    audit_batch_size: int = Field(default=2000, ge=1, le=100_000)

    # More cells (docs/operations.md, "Cells"): "cell-1=postgresql://…;cell-2=postgresql://…"
    # (";" between cells: a cell's own URL may name several hosts with commas).
    # The database URL above is the directory cell, `cell-0`.
    cells: SecretStr | None = None

    # Hot-standby reads (docs/operations.md): streaming replicas of the cell, comma-
    # separated URLs; lists and reports read from one whose replay is within
    # `replica_max_lag_s` of the primary, else from the primary.
    read_replica_urls: SecretStr | None = None
    # The other cells' standbys: "cell-1=postgresql://…,postgresql://…;cell-2=…" (a
    # standby replicates one cluster, so each cell names its own).
    cell_replica_urls: SecretStr | None = None
    replica_max_lag_s: float = Field(default=1.0, gt=0, le=300)

    # The event relay to NATS JetStream (docs/operations.md), off unless a URL is set:
    # servers comma-separated (nats://h1:4222,nats://h2:4222), one stream per cell named
    # <prefix>_<CELL>, stored on `nats_replicas` servers.
    nats_url: SecretStr | None = None
    nats_stream_prefix: str = Field(default="PAYSOURCE", pattern=r"^[A-Z][A-Z0-9_]{0,31}$")
    nats_replicas: int = Field(default=1, ge=1, le=5)
    nats_batch_size: int = Field(default=500, ge=1, le=10_000)
    nats_timeout_s: float = Field(default=5.0, gt=0, le=60)

    # What `paysource serve` runs beside the API: the worker as a child process (its own
    # core and GIL: the default), in the API's process ("thread"), or nothing ("off").
    serve_worker: Literal["process", "thread", "off"] = "process"
    # Worker processes `serve` runs as children ("process"); they share the jobs as
    # `paysource worker`s do (unset: two, or one on a one-core machine). One process's
    # threads share one GIL: under load one fell seconds behind where two kept the
    # pipeline's lag under a second, at the same CPU a payment (bench/README.md).
    serve_worker_processes: int | None = Field(default=None, ge=1, le=16)
    # API processes `paysource serve` runs behind its one port, each with its own pools
    # (unset: one per core, `os.cpu_count()`).
    processes: int | None = Field(default=None, ge=1, le=64)
    log_level: str = "INFO"
    # "auto": JSON lines in production, readable lines elsewhere (docs/observability.md).
    log_format: Literal["auto", "json", "text"] = "auto"
    # Traces: exported over OTLP/HTTP when an endpoint is set, to the console only when
    # asked; with neither no spans are made (every event still gets a traceparent).
    otlp_endpoint: str | None = None
    trace_console: bool = False

    @field_validator("cells")
    @classmethod
    def _check_cells(cls, cells: SecretStr | None) -> SecretStr | None:
        if cells is not None:
            parse_cells(cells.get_secret_value())  # the message names the rule, not a URL
        return cells

    @field_validator("cell_replica_urls")
    @classmethod
    def _check_cell_replicas(cls, replicas: SecretStr | None) -> SecretStr | None:
        if replicas is not None:
            parse_cell_replicas(replicas.get_secret_value())
        return replicas

    def replica_urls_for(self, cell: str) -> list[str]:
        """The hot standbys of one cell (none unless configured)."""
        if cell == "cell-0":
            text = self.read_replica_urls.get_secret_value() if self.read_replica_urls else ""
            return [url.strip() for url in text.split(",") if url.strip()]
        by_cell = self.cell_replica_urls
        return parse_cell_replicas(by_cell.get_secret_value()).get(cell, []) if by_cell else []

    def extra_cells(self) -> dict[str, str]:
        """The cells besides the directory cell: name → database URL."""
        return parse_cells(self.cells.get_secret_value()) if self.cells else {}

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, url: str | None) -> str | None:
        # The message names the rule, never the value: a URL may carry a password.
        if url is not None and urlsplit(url).scheme not in DATABASE_SCHEMES:
            raise ValueError("use postgresql://user:password@host:port/database")
        return url

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, url: str | None) -> str | None:
        if url is not None and urlsplit(url).scheme not in REDIS_SCHEMES:
            raise ValueError("use redis://host:port/0 (or rediss://, unix://)")
        return url

    @field_validator("settlement_schedule")
    @classmethod
    def _check_schedule(cls, text: str) -> str:
        try:
            DailySchedule.parse(text)  # fails fast on a typo
        except ValueError:
            raise ValueError("use 'daily@HH:MM' (UTC) or 'off'") from None
        return text

    @field_validator("pii_master_key")
    @classmethod
    def _check_pii_master_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and _key_bytes(key.get_secret_value()) is None:
            raise ValueError(f"use {PII_MASTER_KEY_BYTES} random bytes in base64")
        return key

    @field_validator("audit_signing_key")
    @classmethod
    def _check_audit_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            parse_seed(key.get_secret_value())  # the message names the rule, not the key
        return key

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> Settings:
        # Every problem at once, one line each: an operator fixes them in one go.
        problems = self._loopback_problems() + self._secret_problems() + self._production_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _loopback_problems(self) -> list[str]:
        if self.env is Mode.DEVELOPMENT and self.host not in LOOPBACK_HOSTS:
            # Development's keys are documented: serve them to this machine only.
            return [
                "PAYSOURCE_HOST: development mode serves loopback only;"
                " set PAYSOURCE_ENV=production (or test) to listen on another address"
            ]
        return []

    def _secret_problems(self) -> list[str]:
        if self.env is Mode.DEVELOPMENT:
            return []
        problems = []
        admin_key = self.admin_key.get_secret_value()
        if admin_key == DEVELOPMENT_ADMIN_KEY:
            problems.append(
                f"PAYSOURCE_ADMIN_KEY is the development default; set a secret of at least "
                f"{MIN_ADMIN_KEY_LENGTH} characters for PAYSOURCE_ENV={self.env}"
            )
        elif len(admin_key) < MIN_ADMIN_KEY_LENGTH:
            problems.append(f"PAYSOURCE_ADMIN_KEY must be at least {MIN_ADMIN_KEY_LENGTH} chars")
        if self.webhook.signing_key.get_secret_value() == DEVELOPMENT_SIGNING_KEY:
            problems.append(
                "PAYSOURCE_WEBHOOK_SIGNING_KEY is the development default; set a secret of"
                f" at least {MIN_ADMIN_KEY_LENGTH} characters for PAYSOURCE_ENV={self.env}"
            )
        return problems

    def _production_problems(self) -> list[str]:
        if self.env is not Mode.PRODUCTION:
            return []
        problems = []
        if self.webhook.allow_private_networks:
            problems.append("PAYSOURCE_WEBHOOK_ALLOW_PRIVATE_NETWORKS is refused in production")
        if not (self.database_url and self.redis_url):
            problems.append(
                "PAYSOURCE_DATABASE_URL and PAYSOURCE_REDIS_URL are required in production"
            )
        jwt_secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if len(jwt_secret) < MIN_ADMIN_KEY_LENGTH:
            problems.append(
                f"PAYSOURCE_JWT_SECRET must be set to at least {MIN_ADMIN_KEY_LENGTH} characters"
                " in production"
            )
        if self.pii_master_key is None or self.pii_master_key_bytes == _key_bytes(
            DEVELOPMENT_PII_MASTER_KEY
        ):
            problems.append(
                "PAYSOURCE_PII_MASTER_KEY must be set (32 random bytes, base64) in production"
            )
        return problems

    @property
    def development(self) -> bool:
        return self.env is Mode.DEVELOPMENT

    @property
    def pii_master_key_bytes(self) -> bytes:
        configured = self.pii_master_key
        text = configured.get_secret_value() if configured else DEVELOPMENT_PII_MASTER_KEY
        key = _key_bytes(text)
        assert key is not None, "checked by _check_pii_master_key"
        return key

    @property
    def audit_seed(self) -> bytes:
        """The seed that signs tree heads. Checked when a container is built, not by the
        validator above: production settings without it stay valid for commands that
        sign nothing (and for the checks that list production's problems)."""
        key = self.audit_signing_key
        seed = parse_seed(key.get_secret_value() if key else DEVELOPMENT_AUDIT_SEED)
        # Test mode keeps the public seed, so test suites need no key of their own.
        if self.env is Mode.PRODUCTION and seed == parse_seed(DEVELOPMENT_AUDIT_SEED):
            raise InvalidValue(
                "PAYSOURCE_AUDIT_SIGNING_KEY must be set in production (a 32-byte Ed25519"
                " seed, 64 hex digits): the development key is public",
                field="PAYSOURCE_AUDIT_SIGNING_KEY",
            )
        return seed

    @property
    def idempotency_key_hmac_secret(self) -> bytes:
        explicit = self.idempotency_key_secret
        return _idempotency_secret(
            explicit.get_secret_value() if explicit else "", self.admin_key.get_secret_value()
        )


@lru_cache(maxsize=8)  # asked on every command: the HMAC was 1.5% of a payment's CPU
def _idempotency_secret(explicit: str, admin_key: str) -> bytes:
    if explicit:
        return explicit.encode()
    return hmac.new(admin_key.encode(), b"paysource-idempotency-key-v1", hashlib.sha256).digest()


def _key_bytes(text: str) -> bytes | None:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == PII_MASTER_KEY_BYTES else None


def mask_url(url: str) -> str:
    """The URL with its password replaced by `***`, fit to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:***@" if parts.username else ":***@"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=user + host))


CELL_NAME = re.compile(r"^cell-[a-z0-9][a-z0-9-]{0,30}$")


def parse_cells(text: str) -> dict[str, str]:
    """ "cell-1=postgresql://…;cell-2=…" → {name: url}; raises ValueError on a bad entry."""
    found: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        name, _, url = entry.partition("=")
        if not CELL_NAME.match(name) or name == "cell-0" or name in found:
            raise ValueError(
                "use cell-<name>=postgresql://… (unique names; cell-0 is the directory)"
            )
        if urlsplit(url).scheme not in DATABASE_SCHEMES:
            raise ValueError("each cell needs a postgresql://user:password@host:port/database URL")
        found[name] = url
    return found


def parse_cell_replicas(text: str) -> dict[str, list[str]]:
    """ "cell-1=url,url;cell-2=url" → {name: [url, …]}; raises ValueError on a bad entry."""
    found: dict[str, list[str]] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        name, _, urls = entry.partition("=")
        listed = [url.strip() for url in urls.split(",") if url.strip()]
        if not CELL_NAME.match(name) or name == "cell-0" or name in found or not listed:
            raise ValueError(
                "use cell-<name>=postgresql://…,postgresql://… (cell-0's standbys go in"
                " PAYSOURCE_READ_REPLICA_URLS)"
            )
        if any(urlsplit(url).scheme not in DATABASE_SCHEMES for url in listed):
            raise ValueError("each standby needs a postgresql://user:password@host:port/db URL")
        found[name] = listed
    return found
