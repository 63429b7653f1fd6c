"""Money and the ISO 4217 exponents it is built on."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from iso4217 import Currency

from paysource.domain.currency import exponent, exponents
from paysource.domain.errors import CurrencyMismatch, InvalidAmount, InvalidCurrency
from paysource.domain.money import MAX_AMOUNT_MINOR, Money


def test_money_holds_an_integer_amount_of_minor_units_and_a_currency() -> None:
    money = Money(1234, "USD")

    assert (money.amount_minor, money.currency) == (1234, "USD")
    assert money == Money(1234, "USD")
    assert money != Money(1234, "EUR")


@pytest.mark.parametrize("amount", [0, 1, MAX_AMOUNT_MINOR])
def test_money_accepts_amounts_from_zero_to_ten_to_the_fifteenth(amount: int) -> None:
    assert Money(amount, "USD").amount_minor == amount


@pytest.mark.parametrize(
    "amount",
    [12.5, 1.0, True, False, "100", None, Decimal(1), -1, MAX_AMOUNT_MINOR + 1],
    ids=repr,
)
def test_money_refuses_anything_but_an_in_range_int(amount: object) -> None:
    with pytest.raises(InvalidAmount) as refused:
        Money(amount, "USD")  # type: ignore[arg-type]

    assert refused.value.field == "amount"
    assert refused.value.code == "invalid_amount"


@pytest.mark.parametrize("code", ["XXX", "usd", "ABC", "", "US", "USDD", "XAU", "XTS", 840, None])
def test_money_refuses_codes_that_are_not_iso_4217_currencies_with_minor_units(
    code: object,
) -> None:
    with pytest.raises(InvalidCurrency) as refused:
        Money(100, code)  # type: ignore[arg-type]

    assert refused.value.field == "currency"


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1234, "USD", "12.34 USD"),
        (5, "USD", "0.05 USD"),
        (0, "USD", "0.00 USD"),
        (500, "JPY", "500 JPY"),
        (1234, "KWD", "1.234 KWD"),
        (5, "KWD", "0.005 KWD"),
        (10**15, "USD", "10000000000000.00 USD"),
    ],
)
def test_formatted_places_the_decimal_point_by_the_currency_exponent(
    amount: int, currency: str, shown: str
) -> None:
    money = Money(amount, currency)

    assert money.formatted() == shown
    assert str(money) == shown


def test_money_of_the_same_currency_adds_and_subtracts() -> None:
    assert Money(700, "EUR") + Money(300, "EUR") == Money(1000, "EUR")
    assert Money(700, "EUR") - Money(300, "EUR") == Money(400, "EUR")


@pytest.mark.parametrize("operation", ["add", "sub"])
def test_money_of_different_currencies_never_combines(operation: str) -> None:
    left, right = Money(700, "EUR"), Money(300, "USD")

    with pytest.raises(CurrencyMismatch):
        _ = left + right if operation == "add" else left - right


def test_subtracting_more_than_there_is_is_refused_rather_than_going_negative() -> None:
    with pytest.raises(InvalidAmount):
        _ = Money(300, "EUR") - Money(301, "EUR")


def test_adding_past_the_maximum_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        _ = Money(MAX_AMOUNT_MINOR, "EUR") + Money(1, "EUR")


def test_money_is_immutable() -> None:
    money = Money(100, "USD")

    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount_minor = 200  # type: ignore[misc]


@pytest.mark.parametrize(
    ("code", "decimals"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("ISK", 0), ("KWD", 3), ("CLF", 4)]
)
def test_currency_exponents_are_the_iso_4217_minor_units(code: str, decimals: int) -> None:
    assert exponent(code) == decimals
    assert Money(1, code).exponent == decimals


def test_the_exponent_table_is_the_maintained_iso4217_table_without_na_codes() -> None:
    published = {c.code: c.exponent for c in Currency if c.exponent is not None}

    assert dict(exponents()) == published
    assert {"XXX", "XAU", "XDR", "XTS"}.isdisjoint(exponents())


def test_exponent_of_an_unknown_or_lowercase_code_is_none() -> None:
    assert exponent("ABC") is None
    assert exponent("usd") is None
