"""What webhooks need from the outside world: a URL check and an HTTP transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from paysource.domain.errors import InvalidValue

MAX_ERROR_LENGTH = 500


class WebhookUrlRefused(InvalidValue):
    """The URL is not one we deliver to (scheme, or where it resolves: SSRF)."""

    code = "webhook_url_refused"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one HTTP attempt got: a status code, or an error before any answer."""

    status_code: int | None
    latency_ms: int
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def summary(self) -> str:
        if self.error is not None:
            return self.error[:MAX_ERROR_LENGTH]
        return f"HTTP {self.status_code}"


class UrlCheck(Protocol):
    def check(self, url: str) -> object:
        """Raise WebhookUrlRefused unless `url` may receive webhooks now."""
        ...


class WebhookTransport(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        """POST `body` to `url` once (no redirects), checking the URL first; never raise
        for what the receiver or the network does, report it in the result."""
        ...
