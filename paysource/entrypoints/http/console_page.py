"""The console at `/console` (docs/console.md): one HTML page whose ES modules and
stylesheet are files under `static/console/`, talking to the public GraphQL API.

The page gets its own Content-Security-Policy, stricter than the API tools' (which
need inline scripts): scripts and styles from this origin only, no inline code, no
frames, no forms posting elsewhere. `connect-src 'self'` also covers the GraphQL
websocket on this host (CSP Level 3).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse

from paysource.entrypoints.http import static

PAGE = static.DIRECTORY / "console" / "index.html"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    # The page holds a credential in memory: no copy in a cache, no leak in a Referer.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def install(app: FastAPI) -> None:
    """Serve the console's page on `app` (its files come from the `/static` mount)."""
    html = PAGE.read_text(encoding="utf-8")

    @app.get("/console", include_in_schema=False)
    async def console() -> HTMLResponse:
        return HTMLResponse(html, headers=HEADERS)

    @app.get("/console/", include_in_schema=False)
    async def console_slash() -> RedirectResponse:
        return RedirectResponse("/console", status_code=308)
