"""Logging set-up: one line per record, and card-number redaction as a last line of
defence (nothing should ever log a PAN; if something does, it is masked)."""

from __future__ import annotations

import logging
import re

from paysource.domain.card import contains_pan

_DIGIT_RUNS = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


class RedactCardNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if contains_pan(message):
            record.msg = _DIGIT_RUNS.sub("[REDACTED PAN]", message)
            record.args = None
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactCardNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
