"""Merchants, customers and API keys: the checks made when they are created or changed."""

from __future__ import annotations

from uuid import uuid4

import pytest
from domain_builders import MERCHANT_ID, merchant_meta, pending_event_names

from paysource.domain.api_key import ApiKey, Role
from paysource.domain.customer import Customer
from paysource.domain.errors import IllegalTransition, InvalidCurrency, InvalidValue
from paysource.domain.fees import FeeSchedule
from paysource.domain.merchant import Merchant
from paysource.domain.profile import (
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_NAME_LENGTH,
)


def register(**overrides: object) -> Merchant:
    fields: dict[str, object] = {
        "merchant_id": uuid4(),
        "name": "Acme Ltd",
        "email": "billing@acme.example",
        "settlement_currency": "EUR",
        "fees": FeeSchedule(250, {"EUR": 25}),
        "request_hash": "h",
        "meta": merchant_meta(),
    }
    return Merchant.register(**(fields | overrides))  # type: ignore[arg-type]


def new_customer(**overrides: object) -> Customer:
    fields: dict[str, object] = {
        "customer_id": uuid4(),
        "merchant_id": MERCHANT_ID,
        "name": "Ada",
        "email": None,
        "metadata": {},
        "request_hash": "h",
        "meta": merchant_meta(),
    }
    return Customer.create(**(fields | overrides))  # type: ignore[arg-type]


def issue(role: Role, merchant_id: object) -> ApiKey:
    return ApiKey.issue(
        key_id=uuid4(),
        role=role,
        merchant_id=merchant_id,  # type: ignore[arg-type]
        key_digest="0" * 64,
        label="ci",
        meta=merchant_meta(),
    )


def test_a_registered_merchant_has_its_trimmed_name_currency_and_fees() -> None:
    merchant = register(name="  Acme Ltd  ")

    assert (merchant.name, merchant.settlement_currency) == ("Acme Ltd", "EUR")
    assert merchant.fees == FeeSchedule(250, {"EUR": 25})
    assert pending_event_names(merchant) == ["Registered"]


def test_a_merchant_needs_no_email() -> None:
    assert register(email=None).email is None


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_NAME_LENGTH + 1)])
def test_a_merchant_needs_a_name_of_1_to_200_characters(name: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        register(name=name)

    assert refused.value.field == "name"


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@c.d", "a@@b.c", "x" * 250 + "@a.bc"])
def test_a_merchant_email_must_look_like_an_address(email: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        register(email=email)

    assert refused.value.field == "email"


@pytest.mark.parametrize("currency", ["eur", "XXX", "ABC"])
def test_a_merchant_settles_in_an_iso_4217_currency(currency: str) -> None:
    with pytest.raises(InvalidCurrency):
        register(settlement_currency=currency)


def test_changing_a_merchants_fees_records_and_applies_the_new_schedule() -> None:
    merchant = register()

    merchant.change_fees(FeeSchedule(100, {"USD": 0}), merchant_meta())

    assert merchant.fees == FeeSchedule(100, {"USD": 0})
    assert pending_event_names(merchant) == ["Registered", "FeeScheduleChanged"]


def test_a_customer_belongs_to_its_merchant_and_keeps_its_metadata() -> None:
    customer = new_customer(name=" Ada ", email="ada@example.org", metadata={"tier": "gold"})

    assert customer.merchant_id == MERCHANT_ID
    assert (customer.name, customer.email, customer.metadata) == (
        "Ada",
        "ada@example.org",
        {"tier": "gold"},
    )


def test_a_customer_does_not_share_the_metadata_dict_it_was_given() -> None:
    given = {"tier": "gold"}
    customer = new_customer(metadata=given)

    given["tier"] = "changed"

    assert customer.metadata == {"tier": "gold"}


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(MAX_METADATA_KEYS + 1)},
        {"": "v"},
        {"k" * (MAX_METADATA_KEY_LENGTH + 1): "v"},
        {"k": "v" * (MAX_METADATA_VALUE_LENGTH + 1)},
    ],
    ids=["too-many-keys", "empty-key", "long-key", "long-value"],
)
def test_customer_metadata_has_stripe_like_limits(metadata: dict[str, str]) -> None:
    with pytest.raises(InvalidValue) as refused:
        new_customer(metadata=metadata)

    assert refused.value.field == "metadata"


def test_customer_metadata_at_the_limits_is_accepted() -> None:
    metadata = {
        f"{i:0{MAX_METADATA_KEY_LENGTH}d}": "v" * MAX_METADATA_VALUE_LENGTH
        for i in range(MAX_METADATA_KEYS)
    }

    assert new_customer(metadata=metadata).metadata == metadata


@pytest.mark.parametrize("name", ["", "  "])
def test_a_customer_needs_a_name(name: str) -> None:
    with pytest.raises(InvalidValue):
        new_customer(name=name)


def test_a_merchant_key_is_issued_for_one_merchant() -> None:
    key = issue(Role.MERCHANT, MERCHANT_ID)

    assert (key.role, key.merchant_id, key.revoked) == (Role.MERCHANT, MERCHANT_ID, False)


@pytest.mark.parametrize("role", [Role.FINANCE, Role.AUDITOR, Role.ADMIN])
def test_staff_keys_belong_to_no_merchant(role: Role) -> None:
    assert issue(role, None).merchant_id is None

    with pytest.raises(InvalidValue):
        issue(role, MERCHANT_ID)


def test_a_merchant_key_without_a_merchant_is_refused() -> None:
    with pytest.raises(InvalidValue):
        issue(Role.MERCHANT, None)


def test_a_key_is_revoked_once() -> None:
    key = issue(Role.ADMIN, None)
    key.revoke(merchant_meta())

    with pytest.raises(IllegalTransition) as refused:
        key.revoke(merchant_meta())

    assert key.revoked
    assert refused.value.code == "api_key_revoked"
    assert pending_event_names(key) == ["Issued", "Revoked"]
