"""Card details and the PAN detector that keeps card numbers out of the system."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.domain.card import CardDetails, contains_pan, luhn_valid, redact_pans
from paysource.domain.errors import InvalidValue

# Leading zeros do not change a Luhn sum, so zero-padding a valid number gives valid
# numbers of any length: that is how the 19- and 20-digit cases below stay Luhn-valid.
VALID_16 = "4242424242424242"


@pytest.mark.parametrize("number", [VALID_16, "378282246310005", "4222222222222", "0" * 13])
def test_luhn_accepts_numbers_whose_check_digit_is_right(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4242424242424241", "4242424242424243", "378282246310006"])
def test_luhn_refuses_numbers_with_a_wrong_check_digit(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    "text",
    [
        VALID_16,
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "card: 4242 4242 4242 4242, thanks",
        "4222222222222",  # 13 digits, the shortest PAN
        "000" + VALID_16,  # 19 digits, the longest PAN
        "note\n4242424242424242\n",
    ],
)
def test_contains_pan_finds_luhn_valid_numbers_of_13_to_19_digits(text: str) -> None:
    assert contains_pan(text)


@pytest.mark.parametrize(
    "text", ["", "order 42", "4242424242424241", "4242 4242 4242 4241", "4242-4242-4242-4243"]
)
def test_contains_pan_ignores_numbers_that_fail_the_luhn_check(text: str) -> None:
    assert not contains_pan(text)


@pytest.mark.parametrize(
    "digits", ["0" * 12, "424242424242", "0000" + VALID_16, "000000000" + VALID_16]
)
def test_contains_pan_ignores_luhn_valid_numbers_shorter_than_13_or_longer_than_19(
    digits: str,
) -> None:
    assert luhn_valid(digits)  # so only the length can make the detector say no
    assert not contains_pan(digits)


@pytest.mark.parametrize(
    "text",
    [
        "4242 4242 4242 4242 12/34",  # followed by the expiry
        "4242424242424242 123",  # followed by the CVV
        "order 7 4242 4242 4242 4242",  # after another number
        "4242-4242-4242-4242-4242",  # inside a longer run of groups
    ],
)
def test_contains_pan_finds_a_pan_typed_next_to_other_digit_groups(text: str) -> None:
    assert contains_pan(text)


def test_card_details_survive_the_dict_form_stored_in_events() -> None:
    card = CardDetails(token="tok_visa", brand="visa", bin="424242", last4="4242")

    stored = {"token": "tok_visa", "brand": "visa", "bin": "424242", "last4": "4242"}
    assert card.as_dict() == stored
    assert CardDetails.from_dict(card.as_dict()) == card


def test_redaction_replaces_the_digit_run_holding_a_pan_and_keeps_the_rest() -> None:
    text = "paid with 4242 4242 4242 4242 12/34 on order 42"

    # The expiry is part of the run (a slash separates groups): masked with the PAN.
    assert redact_pans(text) == "paid with [REDACTED PAN] on order 42"
    assert not contains_pan(redact_pans(text))


def test_redaction_leaves_text_without_a_pan_unchanged() -> None:
    text = "order 42, 4242 4242 4242 4241, tel 020 7946 0958"

    assert redact_pans(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-01 2025-01-01",
        "2024-01-15 2024-02-15 2024-03-15",
        "from 2024-01-01 to 2024-12-31, ref 12-34-56",
    ],
)
def test_date_ranges_are_not_mistaken_for_card_numbers(text: str) -> None:
    assert not contains_pan(text)


@pytest.mark.parametrize(
    "fields",
    [
        ("tok_visa", "visa", "4242424242424242", "4242"),
        ("tok_visa", "visa", "424242", "42424242"),
        ("4242424242424242", "visa", "424242", "4242"),
        ("tok_visa", "visa 4242424242424242", "424242", "4242"),
    ],
)
def test_card_details_refuse_anything_but_a_token_brand_bin_and_last4(
    fields: tuple[str, str, str, str],
) -> None:
    with pytest.raises(InvalidValue):
        CardDetails(*fields)


@pytest.mark.parametrize(
    "text",
    [
        "pay_4242424242424242ab3f4c1d9e8f7a6b",
        "re_ab4242424242424242cd3f4c1d9e8f7a",
        "refund for pay_4242424242424242ab3f4c1d9e8f7a6b, thanks",
    ],
)
def test_digits_inside_an_id_are_not_a_card_number(text: str) -> None:
    assert luhn_valid("4242424242424242")
    assert not contains_pan(text)


@pytest.mark.parametrize(
    "text",
    [
        "4242.4242.4242.4242",
        "4242/4242/4242/4242",
        "4242_4242_4242_4242",
        "4242\t4242\t4242\t4242",
        "4242\u00a04242\u00a04242\u00a04242",
        "4242  4242  4242  4242",
        "4242\u20134242\u20134242\u20134242",
        "4242,4242,4242,4242",
        "42424242 42424242",
        "x4242424242424242",
        "4242424242424242a",
        # Found by a black-box audit: small groups, brackets, long or odd separators,
        # and id-looking prefixes on digits that no id of ours has.
        "4,242,424,242,424,242",
        "42 42 42 42 42 42 42 42",
        "4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2",
        "(4242) 4242 4242 4242",
        "[4242] 4242 4242 4242",
        "4242 -- 4242 -- 4242 -- 4242",
        "4242+4242+4242+4242",
        "4242|4242|4242|4242",
        "4242*4242*4242*4242",
        "4242\u200b4242\u200b4242\u200b4242",
        "pay_4242424242424242",
        "cus_4242424242424242",
        "req_4242424242424242",
        # Issue 12: a date-shaped grouping, `;` `·` `•`, five or more spaces, and
        # digits of other forms (superscript, fullwidth, Arabic-Indic, circled).
        "4242-42-42-4242-4242",
        "4242;4242;4242;4242",
        "4242\u00b74242\u00b74242\u00b74242",
        "4242\u20224242\u20224242\u20224242",
        "4242     4242     4242     4242",
        "4242" + " " * 40 + "4242 4242 4242",
        "\u2074\u00b2\u2074\u00b2" * 4,
        "\uff14\uff12\uff14\uff12" * 4,
        "\u0664\u0662\u0664\u0662" * 4,
        "\u2463\u2461\u2463\u2461 " * 4,
        "4242:4242:4242:4242",
        "4242-12-04 4242-12-24",  # dates of a year no range reads as one
    ],
)
def test_card_numbers_are_found_however_they_are_written(text: str) -> None:
    assert contains_pan(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T12:30:15Z",
        "+1 (415) 555-0132",
        "tel +44 20 7946 0958",
        "pay_9ba9874c82b155f3be1c108f9e5b9fea",
        "req_0035452de96ee7939ae8e1f1",
        "1,234,567.89",
    ],
)
def test_ordinary_numbers_and_our_ids_are_not_card_numbers(text: str) -> None:
    assert not contains_pan(text)


@given(st.uuids())
def test_no_uuid_is_a_card_number_in_any_of_its_spellings(value: UUID) -> None:
    for spelling in (str(value), value.hex, f"pay_{value.hex}", f"key {value} sent"):
        assert not contains_pan(spelling)


# Years 2000-2099 only: a run read as dates of any year hid "4242-12-04 - 4242-12-31",
# a Visa-shaped number (issue 12); no card network issues numbers beginning with 20.
THIS_CENTURY = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@given(THIS_CENTURY, THIS_CENTURY)
def test_no_range_of_iso_dates_is_a_card_number(first: date, second: date) -> None:
    assert not contains_pan(f"{first.isoformat()} - {second.isoformat()}")
    assert not contains_pan(f"{first.isoformat()}T10:00 {second.isoformat()}")


OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=OFFSETS
)


@settings(max_examples=2000)
@given(MOMENTS)
def test_no_iso_8601_moment_is_a_card_number(moment: datetime) -> None:
    # What `datetime.isoformat()` writes (a "T", microseconds, an offset) is a common
    # value of a cut-off or a metadata field: "15:22:31.123456+00:00" holds 16 digits.
    for spelling in (moment.isoformat(), moment.astimezone(UTC).isoformat(), str(moment)):
        assert not contains_pan(spelling), spelling


def test_uuids_are_not_card_numbers_whatever_their_digits() -> None:
    # All digits, dashes where a UUID has them: 42424242-4242-4242 holds a Luhn-valid PAN.
    assert not contains_pan("42424242-4242-4242-4242-424242424242")
    assert not contains_pan("key 42424242-4242-4242-4242-424242424242 sent")
