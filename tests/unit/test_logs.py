"""Card numbers never reach a log line, whatever code logs them by mistake."""

from __future__ import annotations

import logging

import pytest

from paysource.logs import RedactingFormatter


def format_record(message: str, *args: object, exc: BaseException | None = None) -> str:
    record = logging.LogRecord("test", logging.ERROR, __file__, 1, message, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    return RedactingFormatter("%(message)s").format(record)


@pytest.mark.parametrize("pan", ["4242424242424242", "4242 4242 4242 4242", "5555-5555-5555-4444"])
def test_a_pan_in_a_message_or_its_arguments_is_masked(pan: str) -> None:
    line = format_record("charging card %s for order 77", pan)

    assert pan not in line
    assert "[REDACTED PAN]" in line
    assert "order 77" in line


def test_a_pan_inside_an_exception_message_is_masked() -> None:
    try:
        raise ValueError("bad input: 4111111111111111")
    except ValueError as error:
        line = format_record("request failed", exc=error)

    assert "4111111111111111" not in line
    assert "ValueError" in line


def test_ordinary_numbers_are_left_alone() -> None:
    line = format_record("payment of 250000 minor units, order 1234567890123")

    assert line == "payment of 250000 minor units, order 1234567890123"
