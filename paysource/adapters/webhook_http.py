"""Outbound webhook HTTP: the SSRF guard and the sender.

The guard refuses URLs that are not http(s), well-known internal host names, and
hosts resolving to anything but public unicast addresses: loopback, private,
link-local (cloud metadata lives at 169.254.169.254), shared (CGNAT), multicast,
reserved, and IPv6 forms that embed such an IPv4 address. The sender then connects
to exactly the address the guard approved, so a name that re-resolves to 127.0.0.1
between check and connection (DNS rebinding) cannot slip through; TLS still checks
the certificate against the host name (SNI).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from paysource.application.webhook_ports import AttemptResult, WebhookUrlRefused
from paysource.domain.errors import InvalidValue
from paysource.domain.webhook_endpoint import check_webhook_url

Resolver = Callable[[str, int], list[str]]
IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that reach the machine itself or a cloud's metadata service, whatever DNS says.
BLOCKED_HOSTS = frozenset(
    {"localhost", "metadata", "metadata.google.internal", "instance-data", "kubernetes"}
)
BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "paysource-webhooks/1"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(ip: IP) -> IP:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), else itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def is_public(address: str) -> bool:
    ip = embedded_ipv4(ipaddress.ip_address(address.partition("%")[0]))
    teredo = isinstance(ip, ipaddress.IPv6Address) and ip.teredo is not None
    return ip.is_global and not ip.is_multicast and not teredo


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect: the URL with its host replaced by the approved address."""

    url: str
    host_header: str
    sni_hostname: str | None


class UrlGuard:
    def __init__(self, *, allow_private: bool = False, resolver: Resolver = system_resolver):
        self.allow_private = allow_private
        self._resolve = resolver

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
        try:
            addresses = [host] if _is_ip(host) else self._resolve(host, port)
        except (OSError, UnicodeError):
            raise WebhookUrlRefused(f"url host {host!r} does not resolve", field="url") from None
        if not addresses:
            raise WebhookUrlRefused(f"url host {host!r} does not resolve", field="url")
        if not self.allow_private:
            # Every address must be public: a client may pick any one of them.
            for address in addresses:
                if not is_public(address):
                    raise WebhookUrlRefused(
                        f"url host {host!r} resolves to a non-public address", field="url"
                    )
        # IPv4 first: local receivers usually listen on 127.0.0.1, not ::1.
        return min(addresses, key=lambda a: ":" in a).partition("%")[0]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HttpSender:
    """POSTs webhook bodies: guard first, no redirects, no proxies from the environment,
    bounded connect and read times, nothing of the answer read beyond its status."""

    def __init__(
        self, guard: UrlGuard, *, connect_timeout_s: float = 3.0, read_timeout_s: float = 10.0
    ) -> None:
        self._guard = guard
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s, pool=connect_timeout_s)
        # No keep-alive: a pooled connection is keyed by address, and two hosts on one
        # address must not share a TLS session made for the other's name.
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=0),
        )

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        started = time.monotonic()
        try:
            target = self._guard.check(url)
        except WebhookUrlRefused as error:
            return AttemptResult(None, _elapsed_ms(started), f"refused: {error.detail}")
        request = self._client.build_request(
            "POST",
            target.url,
            content=body,
            headers={**headers, "Host": target.host_header, "User-Agent": USER_AGENT},
            extensions={"sni_hostname": target.sni_hostname} if target.sni_hostname else None,
        )
        try:
            response = self._client.send(request, stream=True)
        except httpx.TimeoutException as error:
            return AttemptResult(None, _elapsed_ms(started), f"timeout: {type(error).__name__}")
        except httpx.HTTPError as error:
            return AttemptResult(None, _elapsed_ms(started), f"{type(error).__name__}: {error}")
        response.close()  # only the status matters; never read an unbounded body
        return AttemptResult(response.status_code, _elapsed_ms(started))

    def close(self) -> None:
        self._client.close()


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))
