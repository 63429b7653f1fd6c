"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from paysource.adapters.postgres.migrations import pending
from paysource.entrypoints.http.rest.deps import ContainerDep
from paysource.readmodels.maintenance import CellFigures, metrics_text, status

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
    summary="Projection lag and payments needing attention, per cell, in Prometheus' format",
)
def metrics(container: ContainerDep) -> PlainTextResponse:
    cells = [
        CellFigures(
            name=cell.name,
            statuses=status(cell.store, cell.read.datastore),
            relay_failed=cell.read.payments.count_relay_failed(),
        )
        for cell in container.router.all()
    ]
    return PlainTextResponse(metrics_text(cells), media_type="text/plain; version=0.0.4")
