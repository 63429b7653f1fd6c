"""The FastAPI application: routes, error handlers, middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from paysource.adapters.postgres.datastore import DATABASE_DOWN
from paysource.bootstrap import Container
from paysource.domain.errors import PaysourceError
from paysource.entrypoints.http import console_page, docs_pages, problems
from paysource.entrypoints.http.graphql import mount_graphql
from paysource.entrypoints.http.head import HeadAsGetMiddleware
from paysource.entrypoints.http.middleware import (
    BodyLimitMiddleware,
    OutageMiddleware,
    RequestIdMiddleware,
)
from paysource.entrypoints.http.observability import ObservabilityMiddleware
from paysource.entrypoints.http.rest.direct import DirectPaymentCreation
from paysource.entrypoints.http.rest.lists import reject_unknown
from paysource.entrypoints.http.rest.routes import (
    audit,
    customers,
    disputes,
    events,
    health,
    merchants,
    payments,
    reconciliation,
    refunds,
    reports,
    settlements,
    tokens,
    webhooks,
)
from paysource.entrypoints.metrics import Metrics, gatherer
from paysource.entrypoints.telemetry import start_tracing

REST_ROUTERS = (
    health.router,
    merchants.router,
    customers.router,
    payments.router,
    refunds.router,
    reports.router,
    settlements.router,
    tokens.router,
    audit.router,
    events.router,
    reconciliation.router,
    disputes.router,
)

DESCRIPTION = """
An event-sourced payments core. Amounts are integers in minor units with an ISO 4217
currency. Authenticate with `Authorization: Bearer <key>`. Every POST honours
`Idempotency-Key` (required to create payments and refunds). Errors are
`application/problem+json` (RFC 9457) with a stable `type`.
"""


def create_app(container: Container, *, direct: bool = True) -> FastAPI:
    """The API over an already-built container (see paysource.bootstrap). `direct=False`
    leaves every request to FastAPI's routing (rest/direct.py; tests compare the two)."""
    settings = container.settings
    app = FastAPI(
        title="paysource",
        version="1.0",
        description=DESCRIPTION,
        # Served by docs_pages from files we ship (FastAPI's own pages load CDNs).
        docs_url=None,
        redoc_url=None,
        # `/v1/payments/` is not `/v1/payments`: a redirect would re-send a POST body.
        redirect_slashes=False,
        # FastAPI's own server span stays (ours reuses it, see observability.py); its
        # spans around every dependency and its metrics and logs would duplicate ours at
        # ~10% of a payment's CPU (bench/README.md).
        telemetry={"operation_spans": False, "metrics": False, "logs": False},
    )
    app.state.container = container
    app.state.fast_path = container.fast_path
    app.state.metrics = Metrics(gatherer(container))
    for cell in container.router.all():
        cell.store.observe_group_commits(app.state.metrics.observe_group_commit)
    start_tracing(settings)
    # REST refuses query parameters a route does not take (GraphQL is not REST: its
    # GraphiQL page keeps its own query string).
    strict = [Depends(reject_unknown)]
    for router in REST_ROUTERS:
        app.include_router(router, dependencies=strict)
    assert container.webhooks is not None, "build_container wires the webhooks"
    webhooks.install(app, container.webhooks, dependencies=strict)
    mount_graphql(app, container)
    docs_pages.install(app, graphiql=settings.development)
    console_page.install(app)
    app.add_exception_handler(PaysourceError, problems.on_paysource_error)
    app.add_exception_handler(problems.Problem, problems.on_problem)
    app.add_exception_handler(RequestValidationError, problems.on_validation_error)
    app.add_exception_handler(HTTPException, problems.on_http_exception)
    for kind in DATABASE_DOWN:
        app.add_exception_handler(kind, problems.on_database_down)
    app.add_exception_handler(Exception, problems.on_unexpected)
    if direct:  # innermost: POST /v1/payments past routing and dependency solving
        app.add_middleware(
            DirectPaymentCreation, route=payments.creation_route(), fastapi=app, shared=strict
        )
    # Everything outside it sees the HEAD (head.py).
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if container.gate is not None:
        app.add_middleware(
            OutageMiddleware, gate=container.gate, budget_s=settings.db_request_budget_s
        )
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)
    _close_loop_clients_with(app, container)
    return app


def _close_loop_clients_with(app: FastAPI, container: Container) -> None:
    """When the app stops, close the connections its event loop opened to Redis (the
    cache's client of that loop), before the loop ends."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        try:
            async with inner(app_) as state:
                yield state
        finally:
            if container.cache is not None:
                await container.cache.close_async()

    app.router.lifespan_context = lifespan
