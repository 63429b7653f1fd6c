"""paysource.webhook_signature: what a receiver runs to trust a delivery."""

from __future__ import annotations

import json
import time

import pytest

from paysource.webhook_signature import WebhookVerificationError, sign, signature, verify

SECRET = "whsec_" + "ab" * 32
BODY = json.dumps({"id": "evt_1", "type": "payment.succeeded", "object_version": 4}).encode()


def test_a_signed_body_verifies_and_its_event_is_returned() -> None:
    event = verify(BODY, sign(BODY, SECRET), SECRET)

    assert event["type"] == "payment.succeeded"
    assert event["object_version"] == 4


def test_the_header_is_t_and_v1_with_the_hmac_of_t_dot_body() -> None:
    header = sign(BODY, SECRET, timestamp=1_700_000_000)

    assert header == f"t=1700000000,v1={signature(BODY, SECRET, 1_700_000_000)}"
    assert len(header.split("v1=")[1]) == 64


def test_a_text_payload_verifies_like_its_utf8_bytes() -> None:
    text = '{"description": "café"}'

    assert verify(text, sign(text.encode(), SECRET), SECRET) == {"description": "café"}


@pytest.mark.parametrize(
    "tampered",
    [
        BODY.replace(b"4", b"5"),
        BODY + b" ",
        BODY.replace(b"payment.succeeded", b"payment.refunded"),
    ],
)
def test_a_tampered_body_fails_verification(tampered: bytes) -> None:
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(tampered, sign(BODY, SECRET), SECRET)


def test_another_secret_fails_verification() -> None:
    with pytest.raises(WebhookVerificationError):
        verify(BODY, sign(BODY, SECRET), "whsec_" + "cd" * 32)


def test_an_old_timestamp_fails_verification_even_with_a_valid_signature() -> None:
    old = int(time.time()) - 301

    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(BODY, sign(BODY, SECRET, timestamp=old), SECRET)


def test_the_tolerance_is_the_callers_choice_and_applies_to_the_future_too() -> None:
    now = 1_700_000_000
    header = sign(BODY, SECRET, timestamp=now - 3_000)

    assert verify(BODY, header, SECRET, tolerance=3_600, now=now)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationError):
        verify(BODY, sign(BODY, SECRET, timestamp=now + 600), SECRET, now=now)


def test_a_changed_timestamp_breaks_the_signature() -> None:
    header = sign(BODY, SECRET)
    t, v1 = header.split(",")
    forged = f"t={int(t[2:]) + 1},{v1}"

    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(BODY, forged, SECRET)


def test_any_one_of_several_v1_values_may_match_during_a_rotation() -> None:
    now = int(time.time())
    old = signature(BODY, "whsec_old", now)
    header = f"t={now},v1={signature(BODY, SECRET, now)},v1={old}"

    assert verify(BODY, header, SECRET)["id"] == "evt_1"
    assert verify(BODY, header, "whsec_old")["id"] == "evt_1"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=abc,v1=00",
        "t=1700000000",
        "v1=" + "0" * 64,
        "t=1,v1=é",
        "x" * 5000,
        "t=²,v1=" + "0" * 64,  # a digit to str.isdigit, not to int()
    ],
)
def test_a_malformed_header_fails_verification(header: str) -> None:
    with pytest.raises(WebhookVerificationError):
        verify(BODY, header, SECRET)


def test_a_signed_payload_that_is_not_a_json_object_fails() -> None:
    with pytest.raises(WebhookVerificationError, match="not JSON"):
        verify(b"not json", sign(b"not json", SECRET), SECRET)


def test_a_timestamp_in_digits_other_than_ascii_fails_even_when_int_reads_it() -> None:
    now = int(time.time())
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in str(now))  # int() accepts these
    header = f"t={arabic_indic},v1={signature(BODY, SECRET, now)}"

    with pytest.raises(WebhookVerificationError, match="no timestamp"):
        verify(BODY, header, SECRET)
