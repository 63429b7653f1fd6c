"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from paysource.adapters.postgres.migrations import pending
from paysource.entrypoints.http.rest.deps import AdminPrincipal, ContainerDep
from paysource.entrypoints.metrics import CONTENT_TYPE, Metrics

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Postgres reachable and migrated; Redis state reported")
def readyz(container: ContainerDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    ready = True
    for cell in container.router.all():
        try:
            missing = pending(cell.database_url, container.settings.migrations_dir)
        except Exception as error:  # noqa: BLE001  # any failure means "not ready"
            checks[cell.name] = {"status": "unavailable", "error": type(error).__name__}
            ready = False
            continue
        checks[cell.name] = {"status": "ok" if not missing else "migrations_pending"}
        ready = ready and not missing
    if container.cache is None:
        checks["redis"] = {"status": "not_configured"}
    else:
        # Redis down degrades speed, not correctness: reported, never fatal.
        checks["redis"] = {"status": "ok" if container.cache.ping() else "degraded"}
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Request, business, backlog and health metrics in Prometheus' format (admin key)",
)
def metrics(request: Request, _: AdminPrincipal) -> Response:
    # Behind the admin key (docs/observability.md): the figures describe every merchant.
    found: Metrics = request.app.state.metrics
    return Response(found.text(), media_type=CONTENT_TYPE)
