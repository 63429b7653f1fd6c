"""Keyset pagination: opaque cursors over (time, id), newest first, never OFFSET."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

from graphql import GraphQLError

from paysource.readmodels.sql import Keyset

MAX_FIRST = 100
DEFAULT_FIRST = 20
_VERSION = "k1"


def encode_cursor(position: Keyset) -> str:
    raw = f"{_VERSION}|{position.at.isoformat()}|{position.id.hex}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Keyset | None:
    """The position after which a page starts. A cursor names no object, so another
    merchant's cursor is just a position in the caller's own list."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        version, at, hex_id = base64.urlsafe_b64decode(padded).decode().split("|")
        if version != _VERSION:
            raise ValueError(version)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError(at)
        return Keyset(moment, UUID(hex=hex_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise GraphQLError(
            "`after` is not a cursor from this API", extensions={"code": "invalid_cursor"}
        ) from None


def page_size(first: int) -> int:
    """`first`, capped at MAX_FIRST; a negative count is a client bug."""
    if first < 0:
        raise GraphQLError("`first` must not be negative", extensions={"code": "invalid_argument"})
    return min(first, MAX_FIRST)
