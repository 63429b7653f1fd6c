"""The pages a person opens in a browser: `/` (links), `/docs` (Swagger UI), `/redoc`.

Every file they load comes from `/static` (see `static.py`): they work offline.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from paysource.entrypoints.http import static

_HOME = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>paysource</title>
<link rel="icon" href="{icon}"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>paysource</h1>
<p>An event-sourced payments core. Amounts are integers in minor units.</p>
<ul>
<li><a href="/docs">API reference</a> (Swagger UI: try requests)</li>
<li><a href="/redoc">API reference</a> (ReDoc: read)</li>
<li><a href="/openapi.json">OpenAPI document</a></li>
{graphiql}<li><a href="/healthz">Health</a> · <a href="/readyz">Readiness</a></li>
<li><a href="/metrics">Metrics</a> (Prometheus)</li>
<li><a href="/console">Console</a> (finance and operations, sign in with a key)</li>
</ul>
</body>
</html>
"""
_GRAPHIQL_LINK = '<li><a href="/graphql">GraphiQL</a> (the GraphQL API, development)</li>\n'
_ICON = static.url("swagger-ui/favicon-32x32.png")


def home_html(*, graphiql: bool) -> str:
    return _HOME.format(icon=_ICON, graphiql=_GRAPHIQL_LINK if graphiql else "")


def install(app: FastAPI, *, graphiql: bool) -> None:
    """Serve the pages and their files on `app` (built with docs_url=redoc_url=None)."""
    static.mount(app)
    openapi_url = app.openapi_url or "/openapi.json"
    home = home_html(graphiql=graphiql)

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(home, headers=static.CSP)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _confined(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} API",
                swagger_js_url=static.url("swagger-ui/swagger-ui-bundle.js"),
                swagger_css_url=static.url("swagger-ui/swagger-ui.css"),
                swagger_favicon_url=_ICON,
                # The default validator badge asks a public server to validate our spec.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _confined(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} API",
                redoc_js_url=static.url("redoc/redoc.standalone.js"),
                redoc_favicon_url=_ICON,
                with_google_fonts=False,
            )
        )


def _confined(response: HTMLResponse) -> HTMLResponse:
    response.headers.update(static.CSP)
    return response
