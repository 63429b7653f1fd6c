"""Card numbers never reach a log line, whatever code logs them by mistake."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from paysource import logs
from paysource.application.webhooks.settings import WebhookSettings
from paysource.config import Mode, Settings
from paysource.logs import ContextFilter, JsonFormatter, RedactingFormatter


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


# Structured lines (issue 14, item 9) ----------------------------------------------


def json_line(message: str, *args: object) -> dict[str, object]:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, args, None)
    ContextFilter().filter(record)
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_a_json_line_carries_the_fields_of_the_work_in_hand() -> None:
    with logs.scope(request_id="req_1"):
        logs.bind(merchant="mer_" + "a" * 32, payment=None)
        line = json_line("captured %d", 5)

    assert line["message"] == "captured 5"
    assert line["level"] == "INFO"
    assert line["request_id"] == "req_1"
    assert line["merchant"] == "mer_" + "a" * 32
    assert "payment" not in line  # None is not a value worth a field


def test_fields_end_with_their_scope_and_bind_outside_one_does_nothing() -> None:
    with logs.scope(request_id="req_1"):
        pass
    logs.bind(merchant="mer_x")

    assert logs.bound() == {}
    assert "request_id" not in json_line("after")


def test_a_pan_in_a_json_line_is_masked() -> None:
    line = json_line("card %s", "4242424242424242")

    assert line["message"] == "card [REDACTED PAN]"


def test_readable_lines_end_with_the_fields_as_name_value() -> None:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, "hello", (), None)
    with logs.scope(request_id="req_7", payment="pay_" + "b" * 32):
        ContextFilter().filter(record)

    line = RedactingFormatter("%(message)s").format(record)

    assert line == f"hello request_id=req_7 payment=pay_{'b' * 32}"


@pytest.mark.parametrize(
    ("env", "log_format", "expected"),
    [
        (Mode.PRODUCTION, "auto", JsonFormatter),
        (Mode.DEVELOPMENT, "auto", RedactingFormatter),
        (Mode.DEVELOPMENT, "json", JsonFormatter),
        (Mode.PRODUCTION, "text", RedactingFormatter),
    ],
)
def test_production_logs_json_and_development_readable_lines_unless_told(
    env: Mode, log_format: str, expected: type[logging.Formatter]
) -> None:
    secret = "s" * 40
    settings = Settings(
        env=env,
        log_format=log_format,
        admin_key=secret,
        jwt_secret=secret,
        webhook=WebhookSettings(signing_key=secret),
        pii_master_key=base64.b64encode(b"p" * 32).decode(),
        database_url="postgresql://db/paysource",
        redis_url="redis://cache",
    )
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        logs.configure_for(settings)
        formatter = root.handlers[0].formatter
    finally:
        root.handlers[:] = saved
        root.setLevel(level)

    assert type(formatter) is expected
