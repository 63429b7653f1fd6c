"""Sign and verify paysource webhooks. Standard library only: receivers can vendor it.

Every delivery carries

    Paysource-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

A receiver checks it in a few lines (see docs/webhooks.md):

    from paysource.webhook_signature import WebhookVerificationError, verify

    try:
        event = verify(request_body, request.headers["Paysource-Signature"], SECRET)
    except WebhookVerificationError:
        return 400
    # event["type"], event["object_version"], event["data"]["object"]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

SIGNATURE_HEADER = "Paysource-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
MAX_HEADER_LENGTH = 4096


class WebhookVerificationError(ValueError):
    """The payload was not signed with this secret, was changed, or is too old."""


def signature(payload: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<payload>" under `secret`."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The value of the Paysource-Signature header for `payload`."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},{SCHEME}={signature(payload, secret, moment)}"


def _parse(header: str) -> tuple[int, list[str]]:
    if len(header) > MAX_HEADER_LENGTH:
        raise WebhookVerificationError("the signature header is too long")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        # isdigit() alone accepts "²" and other digits int() refuses.
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookVerificationError("the signature header has no timestamp or no v1 value")
    return timestamp, candidates


def verify(
    payload: bytes | str,
    header: str,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The webhook event in `payload`, if `header` signs it with `secret` and its
    timestamp is within `tolerance` seconds of now; else WebhookVerificationError.

    Verify the raw body as received, before any JSON parsing: re-serialised JSON
    would not match. Any one matching v1 value suffices (several may be sent while
    a secret is being rotated)."""
    body = payload.encode() if isinstance(payload, str) else payload
    timestamp, candidates = _parse(header)
    expected = signature(body, secret, timestamp)
    if not any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates):
        raise WebhookVerificationError("no signature matches the payload and secret")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("the signature timestamp is outside the tolerance")
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the payload is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("the payload is not a JSON object")
    return event
