"""Outbound webhook HTTP: the SSRF guard and the sender.

The guard refuses URLs that are not http(s), well-known internal host names, and
hosts resolving to anything but public unicast addresses: loopback, private,
link-local (cloud metadata lives at 169.254.169.254), shared (CGNAT), multicast,
reserved, IPv6 outside global unicast (2000::/3), and IPv6 forms that embed such an
IPv4 address. The sender then connects to exactly the address the guard approved, so
a name that re-resolves to 127.0.0.1 between check and connection (DNS rebinding)
cannot slip through; TLS still checks the certificate against the host name (SNI).

Every attempt has a deadline (connect + read timeout, in total): name resolution
waits at most the connect timeout, and a timer shuts the connection down when the
deadline passes, whatever the receiver is doing (httpx's timeouts bound each socket
operation, not the whole exchange: a receiver dribbling its headers a byte at a time
would otherwise hold an attempt for ever). Of the answer only the status line and
headers are read (h11 refuses more than 100 KiB of them); the body never is.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from paysource.application.ports import AttemptResult, WebhookUrlRefused
from paysource.domain.errors import InvalidValue
from paysource.domain.webhook_endpoint import check_webhook_url

Resolver = Callable[[str, int], list[str]]
IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that reach the machine itself or a cloud's metadata service, whatever DNS says.
BLOCKED_HOSTS = frozenset(
    {"localhost", "metadata", "metadata.google.internal", "instance-data", "kubernetes"}
)
BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
# IPv6 global unicast; everything else (IPv4-compatible ::/96, SIIT ::ffff:0:0:0/96,
# local-use NAT64 64:ff9b:1::/48, site-local fec0::/10, ULA, link-local...) is not
# public, whatever `is_global` says of it.
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: the IPv4 is checked
DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "paysource-webhooks/1"
DEFAULT_RESOLVE_TIMEOUT_S = 3.0
MAX_PENDING_LOOKUPS = 32


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class BoundedResolver:
    """Runs a resolver in a daemon thread and waits at most `timeout_s` for it: the
    system resolver has timeouts of its own, not ours. At most `max_pending` lookups
    run at once, so a resolver that hangs cannot pile up threads; a lookup that finds
    no free slot in time fails like a slow one."""

    def __init__(
        self,
        resolve: Resolver,
        *,
        timeout_s: float = DEFAULT_RESOLVE_TIMEOUT_S,
        max_pending: int = MAX_PENDING_LOOKUPS,
    ) -> None:
        self._resolve = resolve
        self.timeout_s = timeout_s
        self._slots = threading.BoundedSemaphore(max_pending)

    def __call__(self, host: str, port: int) -> list[str]:
        started = time.monotonic()
        if not self._slots.acquire(timeout=self.timeout_s):
            raise TimeoutError("too many name lookups pending")
        outcome: list[list[str] | Exception] = []
        done = threading.Event()

        def lookup() -> None:
            try:
                outcome.append(self._resolve(host, port))
            except Exception as error:  # noqa: BLE001  # raised in the caller's thread
                outcome.append(error)
            finally:
                self._slots.release()
                done.set()

        threading.Thread(target=lookup, name="webhook-dns", daemon=True).start()
        if not done.wait(max(0.0, self.timeout_s - (time.monotonic() - started))):
            raise TimeoutError(f"no answer within {self.timeout_s:g} s")
        result = outcome[0]
        if isinstance(result, Exception):
            raise result
        return result


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, well-known NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public(address: str) -> bool:
    ip: IP = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
        elif ip not in _GLOBAL_UNICAST or ip.teredo is not None:
            return False
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect: the URL with its host replaced by the approved address."""

    url: str
    host_header: str
    sni_hostname: str | None


class UrlGuard:
    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
        resolve_timeout_s: float = DEFAULT_RESOLVE_TIMEOUT_S,
    ) -> None:
        self.allow_private = allow_private
        self._resolve = BoundedResolver(resolver, timeout_s=resolve_timeout_s)

    def check(self, url: str) -> Target:
        try:
            parts = urlsplit(check_webhook_url(url))
        except InvalidValue as error:
            raise WebhookUrlRefused(error.detail, field="url") from None
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        if not self.allow_private and (host in BLOCKED_HOSTS or host.endswith(BLOCKED_SUFFIXES)):
            raise WebhookUrlRefused(f"url host {host!r} is internal", field="url")
        address = self._approved_address(host, port)
        literal = _is_ip(host)
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        return Target(
            url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
            host_header=parts.netloc,
            sni_hostname=None if literal or parts.scheme != "https" else host,
        )

    def _approved_address(self, host: str, port: int) -> str:
        # One message whether the name does not resolve (or not in time) or resolves to
        # a non-public address: registration must not tell internal names apart.
        refused = WebhookUrlRefused(
            f"url host {host!r} does not resolve to public addresses only", field="url"
        )
        try:
            addresses = [host] if _is_ip(host) else self._resolve(host, port)
        except (OSError, UnicodeError):
            raise refused from None
        if not addresses:
            raise refused
        # Every address must be public: a client may pick any one of them.
        if not self.allow_private and not all(is_public(a) for a in addresses):
            raise refused
        # IPv4 first: local receivers usually listen on 127.0.0.1, not ::1.
        return min(addresses, key=lambda a: ":" in a).partition("%")[0]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# Request logs -------------------------------------------------------------------------

# httpx logs every request at INFO with its full URL ("HTTP Request: POST http://…"),
# and a webhook URL's path or query may hold the receiver's own secret. Records that
# httpx and httpcore log while this process sends a webhook are dropped; their logs
# for other clients are left as they are.
_SENDING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "paysource_webhook_sending", default=False
)
_HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _DropWhileSending(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _SENDING.get()


_DROP_WHILE_SENDING = _DropWhileSending()


def silence_request_logs() -> None:
    """Drop the HTTP libraries' log records of webhook requests (idempotent)."""
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _DROP_WHILE_SENDING not in logger.filters:
            logger.addFilter(_DROP_WHILE_SENDING)


@contextmanager
def _sending() -> Iterator[None]:
    token = _SENDING.set(True)
    try:
        yield
    finally:
        _SENDING.reset(token)


def redact_url(url: str) -> str:
    """`scheme://host[:port]/…`: a URL fit for logs (no path, query or credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}/…"


# The sender ---------------------------------------------------------------------------


class _Deadline:
    """Ends an attempt when its time is up, whatever phase it is in.

    The request's `trace` extension hands over the TCP connection as soon as it is
    made; a duplicate of its socket is kept, and a timer shuts the socket down at the
    deadline (a duplicate, because TLS takes the original over). `shutdown` wakes a
    read or write blocked on the socket at once, so httpx fails the request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event != "connection.connect_tcp.complete":
            return
        stream = info.get("return_value")
        raw = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(raw, socket.socket):
            return
        try:
            duplicate = raw.dup()
        except OSError:
            return  # per-operation timeouts still bound the attempt
        with self._lock:
            previous, self._socket = self._socket, duplicate
            expired = self.expired
        if previous is not None:
            previous.close()
        if expired:
            _shut(duplicate)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            held = self._socket
        if held is not None:
            _shut(held)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            held, self._socket = self._socket, None
        if held is not None:
            held.close()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side or by httpx
        sock.shutdown(socket.SHUT_RDWR)


class HttpSender:
    """POSTs webhook bodies: guard first, no redirects, no proxies from the environment,
    at most `connect_timeout_s + read_timeout_s` per attempt in all, nothing of the
    answer read beyond its status line and headers."""

    def __init__(
        self, guard: UrlGuard, *, connect_timeout_s: float = 3.0, read_timeout_s: float = 10.0
    ) -> None:
        self._guard = guard
        self.deadline_s = connect_timeout_s + read_timeout_s
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s, pool=connect_timeout_s)
        # No keep-alive: a pooled connection is keyed by address, and two hosts on one
        # address must not share a TLS session made for the other's name.
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=0),
        )
        silence_request_logs()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        started = time.monotonic()
        deadline = _Deadline(self.deadline_s)
        try:
            with _sending():
                return self._attempt(url, body, headers, started, deadline)
        finally:
            deadline.close()

    def _attempt(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        started: float,
        deadline: _Deadline,
    ) -> AttemptResult:
        try:
            target = self._guard.check(url)
        except WebhookUrlRefused as error:
            return AttemptResult(None, _elapsed_ms(started), f"refused: {error.detail}")
        extensions: dict[str, Any] = {"trace": deadline.trace}
        if target.sni_hostname:
            extensions["sni_hostname"] = target.sni_hostname
        request = self._client.build_request(
            "POST",
            target.url,
            content=body,
            headers={**headers, "Host": target.host_header, "User-Agent": USER_AGENT},
            extensions=extensions,
        )
        try:
            if deadline.expired:
                raise httpx.ConnectTimeout("the deadline passed before connecting")
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as error:
            if deadline.expired:
                late = f"timeout: no answer within {deadline.seconds:g} s"
                return AttemptResult(None, _elapsed_ms(started), late)
            if isinstance(error, httpx.TimeoutException):
                return AttemptResult(None, _elapsed_ms(started), f"timeout: {type(error).__name__}")
            text = f"{type(error).__name__}: {error}"
            for secret in (url, target.url):  # httpx's messages should not, but might
                text = text.replace(secret, redact_url(secret))
            return AttemptResult(None, _elapsed_ms(started), text)
        response.close()  # only the status matters; never read an unbounded body
        if not 100 <= response.status_code <= 599:
            # h11 takes any three digits; recorded as a status, 999 could not be stored,
            # and the delivery was sent again and again without ever failing.
            invalid = f"invalid HTTP status {response.status_code}"
            return AttemptResult(None, _elapsed_ms(started), invalid)
        return AttemptResult(response.status_code, _elapsed_ms(started))

    def close(self) -> None:
        self._client.close()


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))
