"""The browser tools' files (Swagger UI, ReDoc, GraphiQL), shipped with the package.

FastAPI and strawberry load them from CDNs by default, so the tools were blank on a
machine without internet. The same files are vendored under `static/` (versions and
licences in `static/README.md`) and served at `/static`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

URL_PREFIX = "/static"
DIRECTORY = Path(__file__).with_name("static")

# What strawberry's GraphiQL page loads from unpkg, and our copy of each. The copies
# are the same bytes, so the page's subresource-integrity hashes still hold them.
_UNPKG = "https://unpkg.com/"
GRAPHIQL_FILES = {
    "react@18.2.0/umd/react.production.min.js": "react/react.production.min.js",
    "react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom/react-dom.production.min.js",
    "js-cookie@3.0.5/dist/js.cookie.min.js": "js-cookie/js.cookie.min.js",
    "graphiql@3.8.3/graphiql.min.css": "graphiql/graphiql.min.css",
    "graphiql@3.8.3/graphiql.min.js": "graphiql/graphiql.min.js",
    "@graphiql/plugin-explorer@1.0.2/dist/style.css": "graphiql-plugin-explorer/style.css",
    "@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "graphiql-plugin-explorer/index.umd.js",
}


# Served with every page that loads these files: the browser itself then refuses to
# fetch anything from another host (ReDoc's footer logo would come from its CDN).
CSP = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; font-src 'self' data:;"
    " style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline';"
    " worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
}


def url(relative: str) -> str:
    """The URL path of a vendored file, e.g. `swagger-ui/swagger-ui.css`."""
    return f"{URL_PREFIX}/{relative}"


def localized(html: str) -> str:
    """`html` with every CDN file we ship replaced by our copy. A CDN URL left over
    (a strawberry upgrade that moved versions) is caught by tests/e2e/test_browser_docs."""
    for remote, local in GRAPHIQL_FILES.items():
        html = html.replace(_UNPKG + remote, url(local))
    return html


class _Assets(StaticFiles):
    """The files pages load, never a page: the console's HTML is served at `/console`
    only, with its headers (CSP, `frame-ancestors 'none'`, `no-store`); here it would be
    the same working page with none of them, open to framing and caching."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path.lower().endswith((".html", ".htm")):
            raise HTTPException(404)
        return await super().get_response(path, scope)


def mount(app: FastAPI) -> None:
    app.mount(URL_PREFIX, _Assets(directory=DIRECTORY), name="static")
