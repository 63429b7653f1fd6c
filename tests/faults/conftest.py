"""The fault suite's own Postgres and Redis: its tests crash, stop and pause them, which
the servers every other test shares must never see."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from devtools.localservices import LocalPostgres, LocalRedis
from paysource.adapters.postgres.migrations import migrate
from paysource.config import MIGRATIONS_DIR
from tests.faults.harness import Deployment

TEMPLATE = "faults_template"
_numbers = itertools.count()


@pytest.fixture(scope="package")
def fault_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    with LocalPostgres.start(tmp_path_factory.mktemp("fault-pg"), ephemeral=True) as server:
        with psycopg.connect(server.url, autocommit=True) as conn:
            # The test server's speed settings include synchronous_commit=off, with which
            # a crash loses the last acknowledged commits; production keeps it on, and so
            # must a test that crashes Postgres and counts what was acknowledged.
            conn.execute("ALTER ROLE postgres SET synchronous_commit = on")
            # A wait for a lock past deadlock_timeout (1 s) is logged with who holds it:
            # a failing test shows it (Deployment.why).
            conn.execute("ALTER SYSTEM SET log_lock_waits = on")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        migrate(_url(server, TEMPLATE), MIGRATIONS_DIR)
        yield server


@pytest.fixture(scope="package")
def fault_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    with LocalRedis.start(tmp_path_factory.mktemp("fault-redis")) as server:
        yield server


@pytest.fixture
def fault_database(fault_postgres: LocalPostgres) -> str:
    if not fault_postgres.is_running():
        fault_postgres.start_again()  # a failed test may have left it down
    name = f"faults_{next(_numbers)}"
    with psycopg.connect(fault_postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return _url(fault_postgres, name)


@pytest.fixture
def deployment(
    fault_database: str, fault_postgres: LocalPostgres, fault_redis: LocalRedis, tmp_path: Path
) -> Iterator[Deployment]:
    if not fault_redis.is_running():
        fault_redis.restart()
    redis.Redis.from_url(fault_redis.url).flushall()
    running = Deployment(fault_database, fault_redis.url, tmp_path)
    running.database_log = fault_postgres.log_path
    yield running
    running.stop()


def _url(server: LocalPostgres, database: str) -> str:
    return server.url.rsplit("/", 1)[0] + f"/{database}"
