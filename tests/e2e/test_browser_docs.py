"""Swagger UI, ReDoc, GraphiQL and `/` in a real browser, offline (issue 14, item 4).

Headless Chromium loads each page from a server on 127.0.0.1 with every other host
made unresolvable, and records every request it makes (its net log): a page that
still loads a file from a CDN either renders blank or shows up in that log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from paysource.bootstrap import Container, build_container
from paysource.config import Mode, Settings
from tests.e2e.cdp import CHROMIUM, OFFLINE_HEADLESS
from tests.helpers import live_server

# `./dev test` installs it; CI must not pass by skipping.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed (./dev test)"
)

_LINKS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_ABSOLUTE = re.compile(r"^(?:[a-z]+:)?//", re.IGNORECASE)  # https://host, //host


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    # GraphiQL is served in development only.
    development = settings.model_copy(update={"env": Mode.DEVELOPMENT})
    container: Container = build_container(development)
    try:
        with live_server(container) as url:
            yield url
    finally:
        container.close()


def browse(url: str, net_log: Path) -> str:
    """The DOM of `url` after its scripts ran, with no host but 127.0.0.1 reachable."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        *OFFLINE_HEADLESS,
        f"--log-net-log={net_log}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def page_requests(net_log: Path) -> list[str]:
    """The URLs the page asked for, from the browser's net log. Chromium's own
    background requests (its updater, sign-in) have no page origin as initiator,
    and neither has the navigation we asked for: only the page's own are kept."""
    text = net_log.read_text(errors="replace").rstrip()
    if not text.endswith("}"):  # a log cut short: close the event list
        text = text.rstrip(",") + "]}"
    urls = []
    for event in json.loads(text)["events"]:
        params = event.get("params", {})
        if "url" in params and params.get("initiator", "not an origin") != "not an origin":
            urls.append(params["url"])
    return urls


def requested_hosts(net_log: Path) -> set[str]:
    """Every host the page asked for anything."""
    hosts = {urlsplit(url).hostname or "" for url in page_requests(net_log)}
    assert hosts, "the page made no request: the net log was not read"
    return hosts


def external_links(html: str) -> list[str]:
    return [link for link in _LINKS.findall(html) if _ABSOLUTE.match(link)]


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc", "/graphql", "/console"])
def test_browser_pages_reference_no_other_host(base_url: str, path: str) -> None:
    response = httpx.get(base_url + path, headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert external_links(html) == []
    for cdn in ("unpkg.com", "jsdelivr", "googleapis", "tiangolo"):
        assert cdn not in html
    for link in _LINKS.findall(html):
        if link.startswith("/static/"):
            assert httpx.get(base_url + link).status_code == 200, link


def test_swagger_ui_renders_the_operations_offline(base_url: str, tmp_path: Path) -> None:
    net_log = tmp_path / "net.json"
    dom = browse(base_url + "/docs", net_log)
    assert 'data-path="/v1/payments"' in dom, dom[-3000:]
    assert "opblock-post" in dom
    assert requested_hosts(net_log) <= {"127.0.0.1"}


def test_redoc_renders_the_operations_offline(base_url: str, tmp_path: Path) -> None:
    net_log = tmp_path / "net.json"
    dom = browse(base_url + "/redoc", net_log)
    assert "Create a payment" in dom, dom[-3000:]
    assert requested_hosts(net_log) <= {"127.0.0.1"}


def test_graphiql_renders_offline(base_url: str, tmp_path: Path) -> None:
    net_log = tmp_path / "net.json"
    dom = browse(base_url + "/graphql", net_log)
    assert "graphiql-editor" in dom, dom[-3000:]
    assert requested_hosts(net_log) <= {"127.0.0.1"}


def test_home_page_links_the_tools(base_url: str, tmp_path: Path) -> None:
    dom = browse(base_url + "/", tmp_path / "net.json")
    for link in ("/docs", "/redoc", "/graphql", "/healthz", "/metrics", "/console"):
        assert f'href="{link}"' in dom
