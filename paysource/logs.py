"""Logging set-up: one line per record, and card-number redaction as a last line of
defence. Nothing should ever log a PAN; if something does (an exception message that
quotes input, say), the formatted line is masked before it is written."""

from __future__ import annotations

import logging

from paysource.domain.card import contains_pan, redact_pans


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return redact_pans(line) if contains_pan(line) else line


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
