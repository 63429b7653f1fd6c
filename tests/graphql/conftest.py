"""GraphQL fixtures: the real app (REST + /graphql + /v1/tokens) on a fresh database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.entrypoints.http.app import create_app
from tests.conftest import SUITE_TUNING, app_settings


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    """As the suite's, in `test` mode (limits as in production), without rate limits
    getting in the way of tests that send hundreds of requests a second."""
    return app_settings(database_url, redis_url, **SUITE_TUNING, rate_limit_per_s=100_000)


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
