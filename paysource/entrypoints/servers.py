"""Which PostgreSQL and Redis a command uses, and whether they answer.

Each URL is decided on its own: a URL that is set is used as it is; a missing one comes
from the local servers of a running `paysource serve` (it writes their URLs to
`<local_dir>/services.json`), else from a local server started here under `local_dir`.
Every command prints what it uses, passwords masked, so a wrong database is seen at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis

from devtools.localservices import LocalPostgres, LocalRedis, port_accepts
from paysource.config import Settings, mask_url

log = logging.getLogger("paysource")
CONNECT_TIMEOUT_S = 5
LABELS = {"database_url": "database", "redis_url": "redis"}


class StartupError(Exception):
    """A command cannot start: one line that says why (no traceback)."""


def services_file(settings: Settings) -> Path:
    return settings.local_dir / "services.json"


def running_serve(settings: Settings) -> dict[str, str] | None:
    """What a running `paysource serve` published (its URL, pid, servers), if it runs."""
    try:
        found: dict[str, str] = json.loads(services_file(settings).read_text())
        ports = [int(port) for port in found.get("ports", "").split(",") if port]
        pid = int(found.get("pid", "0"))
    except (OSError, ValueError):
        return None
    return found if _pid_alive(pid) and all(port_accepts(port) for port in ports) else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # written by a version that did not record it: trust the ports
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def resolved(
    settings: Settings,
    *,
    redis_needed: bool = True,
    publish_as: str | None = None,
) -> Iterator[Settings]:
    """Settings whose URLs are all set: as configured, from a running serve, or started here.

    publish_as: `serve` passes its URL; the servers it starts are then written to
    services.json for commands in other terminals, and removed when it stops.
    """
    keys = ["database_url", "redis_url"] if redis_needed else ["database_url"]
    running = None if publish_as else running_serve(settings)
    with contextlib.ExitStack() as stack:
        update: dict[str, str] = {}
        origins: dict[str, str] = {}
        ports: list[str] = []
        for key in keys:
            if getattr(settings, key):
                origins[key] = f"PAYSOURCE_{key.upper()}"
            elif running is not None and running.get(key):
                update[key], origins[key] = running[key], "the running paysource serve's"
            else:
                update[key], port = _start_local(stack, key, settings.local_dir)
                origins[key], ports = f"started under {settings.local_dir}", [*ports, port]
        ready = settings.model_copy(update=update)
        for key in keys:
            print(
                f"{LABELS[key]}: {mask_url(getattr(ready, key))} ({origins[key]})", file=sys.stderr
            )
        if publish_as and ports:
            _publish(stack, settings, {**update, "ports": ",".join(ports), "serve": publish_as})
        yield ready


def _start_local(stack: contextlib.ExitStack, key: str, local_dir: Path) -> tuple[str, str]:
    if key == "database_url":
        print(f"starting a local PostgreSQL under {local_dir}", file=sys.stderr)
        pg = stack.enter_context(LocalPostgres.start(local_dir, ephemeral=False))
        return pg.url, str(pg.port)
    print(f"starting a local Redis under {local_dir}", file=sys.stderr)
    server = stack.enter_context(LocalRedis.start(local_dir))
    return server.url, str(server.port)


def _publish(stack: contextlib.ExitStack, settings: Settings, found: dict[str, str]) -> None:
    path = services_file(settings)
    path.write_text(json.dumps({**found, "pid": str(os.getpid())}))
    stack.callback(path.unlink, missing_ok=True)


def check_database(url: str) -> None:
    """Connect once, so a wrong URL is one line at start rather than a traceback later."""
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S):
            pass
    except psycopg.Error as error:
        raise StartupError(
            f"cannot connect to the database {mask_url(url)}: {connect_failure(error, url)}"
        ) from None


def connect_failure(error: BaseException, url: str) -> str:
    """The reason of a connection failure in one line, without the URL's password."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = lines[0] if lines else type(error).__name__
    reason = reason.rpartition("failed: ")[2] or reason
    reason = reason.removeprefix("FATAL:").strip()
    return reason.replace(url, mask_url(url))


def redis_answers(url: str) -> str | None:
    """None when Redis answers PING, else why not (one line)."""
    client = redis.Redis.from_url(
        url, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        return connect_failure(error, url)
    finally:
        client.close()
    return None


def warn_if_redis_is_down(url: str) -> None:
    """Redis down is no reason to stop, but the operator must know what it turns off."""
    reason = redis_answers(url)
    if reason is not None:
        log.warning(redis_down_message(url, reason))


def redis_down_message(url: str, reason: str) -> str:
    return (
        f"redis {mask_url(url)} does not answer ({reason}): rate limits are off and"
        " retried requests take the slower Postgres path until it does"
    )


def check_port_free(host: str, port: int, settings: Settings) -> None:
    """Refuse before anything starts when the port is taken (by us, say so, with our URL)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: SO_REUSEADDR passes a port in TIME_WAIT, not one being listened on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            pass
        else:
            return
    running = running_serve(settings)
    if running is not None and running.get("serve", "").endswith(f":{port}"):
        raise StartupError(already_running(running))
    raise StartupError(
        f"port {port} on {host} is in use by another program;"
        " choose another with --port or PAYSOURCE_PORT"
    )


def check_not_running(settings: Settings) -> None:
    """A second serve must not start the local servers that the first one runs."""
    needs_local = not (settings.database_url and settings.redis_url)
    running = running_serve(settings) if needs_local else None
    if running is not None:
        raise StartupError(already_running(running))


def already_running(running: dict[str, str]) -> str:
    return (
        f"paysource is already running at {running.get('serve', '?')} (pid"
        f" {running.get('pid', '?')}); use it, or stop it with Ctrl-C in its terminal"
    )
