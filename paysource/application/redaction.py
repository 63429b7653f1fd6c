"""What no answer repeats, whoever sent it: card numbers and credentials.

An error names the client's own input at times: a field's path holds a metadata key,
an unknown event type is quoted, a path is the answer's `instance`. Such text travels
on into clients' logs, tickets and proxies, so whatever in it reads as a card number,
an API key, a webhook signing secret or a token is replaced by a marker before an
answer leaves (REST problems and GraphQL's typed errors alike).
"""

from __future__ import annotations

import re

from paysource.application.auth import KEY_PREFIX
from paysource.application.webhooks.endpoints import SECRET_PREFIX
from paysource.domain.card import redact_pans

REDACTED = "[REDACTED]"
_CREDENTIAL = re.compile(
    rf"(?:{re.escape(KEY_PREFIX)}|{re.escape(SECRET_PREFIX)})[A-Za-z0-9_-]*"
    r"|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"  # a JWT: header.claims.signature
)


def redact(text: str) -> str:
    """`text` with card numbers and credentials replaced by markers."""
    return _CREDENTIAL.sub(REDACTED, redact_pans(text))
