"""Rebuilding an aggregate from its stored events gives back the state that recorded them.

Events go through an eventsourcing application on the in-memory (POPO) store, so they
pass the JSON transcoder: UUIDs, datetimes and enums must survive it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest
from domain_builders import (
    BLOCKED_RISK,
    MERCHANT_ID,
    T0,
    authorized_payment,
    captured_payment,
    merchant_meta,
    new_payment,
    open_refund,
    replayed,
    state,
    usd,
)

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.api_key import ApiKey, Role
from paysource.domain.customer import Customer
from paysource.domain.fees import FeeSchedule
from paysource.domain.idempotency import IdempotencyRecord
from paysource.domain.merchant import Merchant
from paysource.domain.payment import Payment, PaymentStatus
from paysource.domain.refund import Refund, RefundStatus
from paysource.domain.risk import RiskAssessment, RiskOutcome


def merchant_with_new_fees() -> Merchant:
    merchant = Merchant.register(
        merchant_id=MERCHANT_ID,
        name="Acme",
        email="a@acme.example",
        settlement_currency="KWD",
        fees=FeeSchedule(),
        request_hash="h",
        meta=merchant_meta(),
    )
    merchant.change_fees(FeeSchedule(120, {"USD": 5}), merchant_meta())
    return merchant


def customer() -> Customer:
    return Customer.create(
        customer_id=uuid4(),
        merchant_id=MERCHANT_ID,
        name="Zo\u00eb",
        email=None,
        metadata={"city": "M\u00fcnchen"},
        request_hash="h",
        meta=merchant_meta(),
    )


def revoked_key() -> ApiKey:
    key = ApiKey.issue(
        key_id=uuid4(),
        role=Role.MERCHANT,
        merchant_id=MERCHANT_ID,
        key_digest="ab" * 32,
        label="ci",
        meta=merchant_meta(),
    )
    key.revoke(merchant_meta())
    return key


def elevated_then_declined() -> Payment:
    payment = new_payment(customer_id=uuid4())
    payment.assess_risk(RiskAssessment(RiskOutcome.ELEVATED, 50, ("amount_high",)), merchant_meta())
    payment.decline(decline_code="do_not_honor", message="no", meta=merchant_meta())
    return payment


def blocked() -> Payment:
    payment = new_payment()
    payment.assess_risk(BLOCKED_RISK, merchant_meta())
    return payment


def refunded_in_part() -> Payment:
    payment = captured_payment(usd(10_000), captured=usd(8_000), fees=FeeSchedule())
    settled, released = open_refund(payment, usd(1_000)), open_refund(payment, usd(2_000))
    open_refund(payment, usd(3_000))
    settled.succeed(payment, acquirer_reference="r1", meta=merchant_meta())
    released.fail(payment, failure_code="f", meta=merchant_meta())
    return payment


def succeeded_refund() -> Refund:
    payment = captured_payment()
    refund = open_refund(payment, usd(5))
    refund.succeed(payment, acquirer_reference="r1", meta=merchant_meta())
    return refund


def failed_refund() -> Refund:
    payment = captured_payment()
    refund = open_refund(payment, usd(5))
    refund.fail(payment, failure_code="expired_card", meta=merchant_meta())
    return refund


def idempotency_record() -> IdempotencyRecord:
    return IdempotencyRecord.record(
        merchant_id=MERCHANT_ID,
        key="k-1",
        operation="capture",
        request_hash="h",
        target=captured_payment(),
        meta=merchant_meta(),
    )


SCENARIOS: list[Callable[[], PaysourceAggregate]] = [
    merchant_with_new_fees,
    customer,
    revoked_key,
    new_payment,
    authorized_payment,
    captured_payment,
    elevated_then_declined,
    blocked,
    refunded_in_part,
    succeeded_refund,
    failed_refund,
    idempotency_record,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_an_aggregate_rebuilt_from_its_stored_events_equals_the_original(
    scenario: Callable[[], PaysourceAggregate],
) -> None:
    original = scenario()

    rebuilt = replayed(original)

    assert type(rebuilt) is type(original)
    assert state(rebuilt) == state(original)


def test_a_rebuilt_hold_expires_at_the_same_instant_as_the_original() -> None:
    ttl = timedelta(days=7)
    rebuilt = replayed(authorized_payment(at=T0))
    assert isinstance(rebuilt, Payment)

    rebuilt.expire(now=T0 + ttl, hold_ttl=ttl, meta=merchant_meta(T0 + ttl))

    assert rebuilt.status is PaymentStatus.CANCELED


def test_a_rebuilt_payment_settles_a_refund_reserved_before_it_was_stored() -> None:
    payment = captured_payment(usd(10_000))
    refund = open_refund(payment, usd(4_000))
    rebuilt_payment, rebuilt_refund = replayed(payment), replayed(refund)
    assert isinstance(rebuilt_payment, Payment)
    assert isinstance(rebuilt_refund, Refund)

    rebuilt_refund.succeed(rebuilt_payment, acquirer_reference="r", meta=merchant_meta())

    assert rebuilt_refund.status is RefundStatus.SUCCEEDED
    assert rebuilt_payment.amount_refunded == 4_000
