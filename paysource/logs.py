"""Logging set-up: JSON lines in production, readable lines in development, and the
fields of the work in hand (request id, merchant, `pay_…` ids) on every line.

Standard library only (docs/decisions.md says why not structlog): every library we
use logs through `logging`, so one handler with one filter covers their lines too.

Card-number redaction stays the last line of defence: nothing should ever log a PAN;
if something does (an exception message that quotes input, say), the formatted line
is masked before it is written, whichever format is in use.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from paysource.domain.card import contains_pan, redact_pans

if TYPE_CHECKING:
    from paysource.config import Settings

# One mutable dict per unit of work. Mutated in place (never replaced) by `bind`, so
# a field bound inside a thread-pool dependency (which runs in a copy of the context)
# still reaches the request's later lines and its access log line.
_fields: ContextVar[dict[str, str] | None] = ContextVar("paysource_log_fields", default=None)


@contextmanager
def scope(**fields: str | None) -> Iterator[None]:
    """A unit of work (one request, one payment in the worker): lines logged inside it
    carry `fields`, those of any enclosing scope, and what `bind` adds."""
    token = _fields.set({**bound(), **_present(fields)})
    try:
        yield
    finally:
        _fields.reset(token)


def bind(**fields: str | None) -> None:
    """Add fields to the current unit of work (outside one: nothing to add them to)."""
    current = _fields.get()
    if current is not None:
        current.update(_present(fields))


def bound() -> dict[str, str]:
    return dict(_fields.get() or {})


def _present(fields: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value}


class ContextFilter(logging.Filter):
    """Stamps the work's fields on a record when it is logged, in the logging thread:
    a handler that formats later or elsewhere (a queue, a test's capture) still
    writes the fields of the work that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = bound()
        return True


def _line_fields(record: logging.LogRecord) -> dict[str, Any]:
    context: dict[str, str] | None = getattr(record, "context", None)
    extra: dict[str, Any] = getattr(record, "fields", None) or {}
    return {**(bound() if context is None else context), **extra}


class RedactingFormatter(logging.Formatter):
    """Readable lines: the message, then the work's fields as `name=value`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _line_fields(record)
        if fields:
            line += " " + " ".join(f"{name}={value}" for name, value in fields.items())
        return redact_pans(line) if contains_pan(line) else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers: no parsing rules to keep."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_line_fields(record),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        line = json.dumps(document, default=str, ensure_ascii=False)
        return redact_pans(line) if contains_pan(line) else line


def configure(level: str = "INFO", *, json_lines: bool = False) -> None:
    handler = logging.StreamHandler()
    formatter: logging.Formatter = (
        JsonFormatter()
        if json_lines
        else RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def configure_for(settings: Settings) -> None:
    """`configure` from Settings: JSON in production unless `log_format` says otherwise."""
    chosen = settings.log_format
    json_lines = chosen == "json" or (chosen == "auto" and settings.env == "production")
    configure(settings.log_level, json_lines=json_lines)
