"""Shared fixtures: a real PostgreSQL and a real Redis, started by the test session.

Each test that touches Postgres gets its own database, copied from a migrated
template (fast: a file copy), so tests never see each other's events.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import redis
from fastapi.dependencies import models as fastapi_models
from fastapi.testclient import TestClient

from devtools.localservices import LocalPostgres, LocalRedis
from paysource.adapters.clock import ManualClock
from paysource.adapters.postgres.migrations import migrate
from paysource.application.webhooks.settings import WebhookSettings
from paysource.bootstrap import Container, build_container
from paysource.config import MIGRATIONS_DIR, Mode, Settings
from paysource.entrypoints.http.app import create_app

ADMIN_KEY = "test-admin-key-0123456789abcdef0123456789"
WEBHOOK_SIGNING_KEY = "test-webhook-signing-key-0123456789abcdef"
# Test receivers listen on 127.0.0.1, which production refuses (SSRF).
TEST_WEBHOOK = WebhookSettings(signing_key=WEBHOOK_SIGNING_KEY, allow_private_networks=True)
# The same, for subprocesses (`paysource worker`, `paysource serve`).
TEST_ENVIRONMENT = {
    "PAYSOURCE_ENV": "test",
    "PAYSOURCE_ADMIN_KEY": ADMIN_KEY,
    "PAYSOURCE_WEBHOOK_SIGNING_KEY": WEBHOOK_SIGNING_KEY,
    "PAYSOURCE_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    # One API process per `serve` the tests start (they count its children); the tests
    # of several processes ask for them (tests/e2e/test_serve_processes.py).
    "PAYSOURCE_PROCESSES": "1",
    # One worker process per `serve`, likewise; a test of two asks for them.
    "PAYSOURCE_SERVE_WORKER_PROCESSES": "1",
}
TEMPLATE = "paysource_template"
_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    with LocalPostgres.start(tmp_path_factory.mktemp("services"), ephemeral=True) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    with LocalRedis.start(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def template_url(postgres: LocalPostgres) -> str:
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    url = postgres.url.rsplit("/", 1)[0] + f"/{TEMPLATE}"
    migrate(url, MIGRATIONS_DIR)
    return url


# How the suite tunes the apps it builds: small pools, quick polls and retries.
SUITE_TUNING: dict[str, Any] = {
    "db_pool_size": 4,
    "db_max_overflow": 20,
    "read_pool_size": 4,
    "follower_poll_interval_s": 0.05,
    "acquirer_retry_base_delay_s": 0.01,
}


def app_settings(database_url: str, redis_url: str, **tuning: Any) -> Settings:
    """An app's settings in `test` mode (limits as in production), with the suite's keys."""
    return Settings(
        env=Mode.TEST,
        webhook=TEST_WEBHOOK,
        admin_key=ADMIN_KEY,
        database_url=database_url,
        redis_url=redis_url,
        **tuning,
    )


@contextmanager
def scratch_database(postgres: LocalPostgres, name: str) -> Iterator[str]:
    """A database of its own, copied from the migrated template (needs the
    `template_url` fixture), dropped afterwards."""
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    try:
        yield postgres.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(postgres.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def module_container(
    postgres: LocalPostgres, redis_server: LocalRedis, module: str, **settings: Any
) -> Iterator[Container]:
    """One wired app on a database of its own, for a module whose tests share it: each
    test works with its own merchants, which spares the per-test database and pool
    set-up. Redis is not flushed between them. The rate limit is raised because a
    hundred fast tests would otherwise share one second's budget of the admin key."""
    if not redis_server.is_running():
        redis_server.restart()
    with scratch_database(postgres, f"{module}_{os.getpid()}") as url:
        defaults: dict[str, Any] = {
            "db_pool_size": 4,
            "read_pool_size": 2,
            "acquirer_retry_base_delay_s": 0.01,
            "rate_limit_per_s": 100_000,
        }
        built = build_container(app_settings(url, redis_server.url, **{**defaults, **settings}))
        try:
            yield built
        finally:
            built.close()


@pytest.fixture
def database_url(postgres: LocalPostgres, template_url: str) -> Iterator[str]:
    with scratch_database(postgres, f"test_{os.getpid()}_{next(_database_numbers)}") as url:
        yield url


@pytest.fixture
def redis_url(redis_server: LocalRedis) -> str:
    if not redis_server.is_running():
        redis_server.restart()
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    return app_settings(database_url, redis_url, **SUITE_TUNING)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = build_container(settings)
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """The REST API in-process (modules that need another scope or app define their own)."""
    with TestClient(create_app(container)) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _forget_finished_apps() -> Iterator[None]:
    """FastAPI classifies endpoint callables in module-level caches (4,096 entries each);
    an app's closures there keep the app, its Container and all they hold alive. A
    server builds one app; the suite builds one per test, so the heap grew past 1 GB,
    and each full garbage collection over it stalled every thread for seconds, longer
    than a request's 2 s database budget (the 503s CI saw in late GraphQL tests)."""
    yield
    for value in vars(fastapi_models).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
