"""GraphQL fixtures: the real app (REST + /graphql + /v1/tokens) on a fresh database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from paysource.config import Mode, Settings
from paysource.entrypoints.http.app import create_app
from tests.conftest import ADMIN_KEY, TEST_WEBHOOK


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    """As the suite's, in `test` mode (limits as in production), without rate limits
    getting in the way of tests that send hundreds of requests a second."""
    return Settings(
        env=Mode.TEST,
        webhook=TEST_WEBHOOK,
        admin_key=ADMIN_KEY,
        database_url=database_url,
        redis_url=redis_url,
        db_pool_size=4,
        db_max_overflow=20,
        read_pool_size=4,
        follower_poll_interval_s=0.05,
        acquirer_retry_base_delay_s=0.01,
        rate_limit_per_s=100_000,
    )


def graphql_app(container: Container) -> FastAPI:
    """The real app: REST, /v1/tokens and /graphql (create_app mounts it)."""
    return create_app(container)


@pytest.fixture
def app(container: Container) -> FastAPI:
    return graphql_app(container)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
