"""Checks shared by profiles (merchants and customers)."""

from __future__ import annotations

import re

from paysource.domain.errors import InvalidValue

MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
# Deliberately loose: one @, something on each side, a dot in the domain. Real
# validation of an address is sending mail to it.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_text(text: str, *, field: str) -> str:
    """Text we store must fit Postgres `text`, which cannot hold NUL characters."""
    if "\x00" in text:
        raise InvalidValue(f"{field} must not contain NUL characters", field=field)
    return text


def check_name(name: str, *, field: str = "name") -> str:
    stripped = check_text(name, field=field).strip()
    if not stripped or len(stripped) > MAX_NAME_LENGTH:
        raise InvalidValue(f"{field} must be 1 to {MAX_NAME_LENGTH} characters", field=field)
    return stripped


def check_email(email: str | None) -> str | None:
    if email is None:
        return None
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(check_text(email, field="email")):
        raise InvalidValue("email is not a valid address", field="email")
    return email


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Stripe-like limits: at most 50 keys, short keys, values up to 500 characters."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidValue(f"metadata has more than {MAX_METADATA_KEYS} keys", field="metadata")
    for key, value in metadata.items():
        check_text(key, field="metadata")
        check_text(value, field="metadata")
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            raise InvalidValue(
                f"metadata keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters",
                field="metadata",
            )
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise InvalidValue(
                f"metadata values must be at most {MAX_METADATA_VALUE_LENGTH} characters",
                field="metadata",
            )
    return dict(metadata)
