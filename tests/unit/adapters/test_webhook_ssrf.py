"""The SSRF guard: webhooks go to public http(s) addresses only, unless allowed.

Host names are resolved by an injected resolver, so these tests need no DNS.
"""

from __future__ import annotations

import threading
import time

import pytest

from paysource.adapters.webhook_http import BoundedResolver, UrlGuard, is_public
from paysource.application.ports import WebhookUrlRefused

PUBLIC_IP = "93.184.216.34"
REFUSED = "does not resolve to public addresses only"


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


def guard(**table: list[str]) -> UrlGuard:
    names = {name.replace("_", "."): addresses for name, addresses in table.items()}
    return UrlGuard(allow_private=False, resolver=resolver(names))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://10.0.0.5/hook",
        "http://172.16.3.4/hook",
        "http://192.168.1.10:8080/hook",
        "http://100.64.0.1/hook",
        "http://[fd00::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[64:ff9b::a00:1]/hook",
        "http://[2002:7f00:1::]/hook",
        "http://224.0.0.1/hook",
        "http://255.255.255.255/hook",
        # IPv6 forms that embed an IPv4 address and that `is_global` calls global:
        "http://[::127.0.0.1]/hook",  # IPv4-compatible ::/96
        "http://[::a9fe:a9fe]/latest/meta-data/",  # the same, 169.254.169.254
        "http://[::ffff:0:a9fe:a9fe]/hook",  # SIIT ::ffff:0:0:0/96
        "http://[64:ff9b:1::a9fe:a9fe]/hook",  # local-use NAT64 64:ff9b:1::/48
        "http://[fec0::1]/hook",  # deprecated site-local fec0::/10
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
        "http://[ff02::1]/hook",  # multicast
        "http://[::]/hook",
    ],
)
def test_addresses_that_are_not_public_are_refused(url: str) -> None:
    with pytest.raises(WebhookUrlRefused, match=REFUSED):
        guard(**{"127.1": ["127.0.0.1"]}).check(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/hook",
        "http://LOCALHOST./hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/computeMetadata/v1/",
        "http://instance-data/latest/",
        "http://api.localhost/hook",
        "http://printer.local/hook",
        "http://db.corp.internal/hook",
    ],
)
def test_internal_and_metadata_host_names_are_refused_whatever_dns_says(url: str) -> None:
    with pytest.raises(WebhookUrlRefused, match="internal"):
        UrlGuard(allow_private=False, resolver=lambda host, port: [PUBLIC_IP]).check(url)


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    with pytest.raises(WebhookUrlRefused, match=REFUSED):
        guard(hooks_example_com=["10.1.2.3"]).check("https://hooks.example.com/in")


def test_a_name_resolving_to_an_ipv6_form_of_a_private_address_is_refused() -> None:
    with pytest.raises(WebhookUrlRefused, match=REFUSED):
        guard(hooks_example_com=["::a9fe:a9fe"]).check("https://hooks.example.com/in")


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(WebhookUrlRefused, match=REFUSED):
        guard(hooks_example_com=[PUBLIC_IP, "127.0.0.1"]).check("https://hooks.example.com/")


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(WebhookUrlRefused, match=REFUSED):
        guard().check("https://nowhere.example.com/")


def test_not_resolving_and_resolving_inside_are_told_apart_by_nothing() -> None:
    # Otherwise registering URLs would tell which internal names exist.
    check = guard(db_example_com=["10.1.2.3"]).check
    details = []
    for host in ("db.example.com", "nodb.example.com"):
        with pytest.raises(WebhookUrlRefused) as refused:
            check(f"https://{host}/")
        details.append((refused.value.detail.replace(host, "HOST"), refused.value.field))

    assert details[0] == details[1]


def test_a_name_that_resolves_too_slowly_is_refused_at_the_timeout() -> None:
    def hangs(host: str, port: int) -> list[str]:
        time.sleep(5)
        return [PUBLIC_IP]

    started = time.monotonic()
    with pytest.raises(WebhookUrlRefused, match=REFUSED):
        UrlGuard(resolver=hangs, resolve_timeout_s=0.2).check("https://slow.example.com/")

    assert time.monotonic() - started < 1.0


def test_hung_lookups_do_not_pile_up_threads() -> None:
    release = threading.Event()
    calls: list[str] = []

    def hangs(host: str, port: int) -> list[str]:
        calls.append(host)
        release.wait(5)
        return [PUBLIC_IP]

    resolve = BoundedResolver(hangs, timeout_s=0.1, max_pending=2)
    try:
        for number in range(4):
            with pytest.raises(TimeoutError):
                resolve(f"h{number}.example.com", 443)
        assert calls == ["h0.example.com", "h1.example.com"], "two lookups at most"
    finally:
        release.set()
    time.sleep(0.1)
    assert resolve("h4.example.com", 443) == [PUBLIC_IP], "free again once they end"


def test_a_resolver_error_is_raised_to_the_caller() -> None:
    def fails(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(OSError, match="no such host"):
        BoundedResolver(fails, timeout_s=1.0)("x.example.com", 443)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com:70/",
        "javascript:alert(1)",
        "//example.com/hook",
        "https://user:pass@example.com/hook",
        "https://example.com/hook#fragment",
        "https://example.com:99999/hook",
        "https://exa mple.com/hook",
        "https://exämple.com/hook",
        "",
        "https://example.com/" + "a" * 2100,
    ],
)
def test_urls_that_are_not_plain_http_or_https_are_refused(url: str) -> None:
    with pytest.raises(WebhookUrlRefused):
        guard(example_com=[PUBLIC_IP]).check(url)


def test_a_public_https_url_is_pinned_to_the_checked_address_with_its_name_for_tls() -> None:
    target = guard(hooks_example_com=[PUBLIC_IP]).check("https://hooks.example.com/in?x=1")

    assert target.url == f"https://{PUBLIC_IP}:443/in?x=1"
    assert target.host_header == "hooks.example.com"
    assert target.sni_hostname == "hooks.example.com"


def test_an_ipv6_address_is_pinned_in_brackets() -> None:
    target = guard(v6_example_com=["2606:2800:220:1::1"]).check("http://v6.example.com:8080/")

    assert target.url == "http://[2606:2800:220:1::1]:8080/"
    assert target.host_header == "v6.example.com:8080"
    assert target.sni_hostname is None


def test_allowing_private_networks_lets_local_receivers_through() -> None:
    local = UrlGuard(allow_private=True, resolver=resolver({"localhost": ["::1", "127.0.0.1"]}))

    assert local.check("http://127.0.0.1:9000/hook").url == "http://127.0.0.1:9000/hook"
    assert local.check("http://localhost:9000/hook").url == "http://127.0.0.1:9000/hook"
    with pytest.raises(WebhookUrlRefused):
        local.check("ftp://127.0.0.1/hook")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        (PUBLIC_IP, True),
        ("2606:2800:220:1::1", True),
        ("::ffff:93.184.216.34", True),  # mapped: the IPv4 address decides
        ("64:ff9b::5db8:d822", True),  # well-known NAT64 of a public IPv4 address
        ("2002:5db8:d822::1", True),  # 6to4 of one
        ("127.0.0.1", False),
        ("fe80::1%eth0", False),
        ("::5db8:d822", False),  # IPv4-compatible, even of a public address: deprecated
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b:1::5db8:d822", False),  # local-use NAT64: local by definition
        ("2002:a9fe:a9fe::1", False),
        ("2001:db8::1", False),  # documentation
        ("fec0::1", False),
        ("fc00::1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public
