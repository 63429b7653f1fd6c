"""Idempotency keys as deterministic aggregate ids, and the record of a keyed command."""

from __future__ import annotations

from uuid import UUID

import pytest
from domain_builders import merchant_meta, new_payment

from paysource.domain.errors import InvalidValue
from paysource.domain.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyRecord,
    check_idempotency_key,
    claim_id,
)

MERCHANT_A = UUID("00000000-0000-4000-8000-0000000000a1")
MERCHANT_B = UUID("00000000-0000-4000-8000-0000000000b2")


def test_the_same_merchant_and_key_always_name_the_same_aggregate() -> None:
    assert claim_id(MERCHANT_A, "order-1") == claim_id(MERCHANT_A, "order-1")


def test_the_claim_id_is_fixed_forever_so_stored_claims_stay_reachable() -> None:
    # Pinned: a change of namespace or of the name format would orphan every stored claim.
    assert claim_id(MERCHANT_A, "order-1") == UUID("ff57f506-f30b-5ad2-a462-6f96f6464ef1")


def test_two_merchants_using_the_same_key_claim_different_aggregates() -> None:
    assert claim_id(MERCHANT_A, "order-1") != claim_id(MERCHANT_B, "order-1")


def test_different_keys_of_one_merchant_claim_different_aggregates() -> None:
    assert claim_id(MERCHANT_A, "order-1") != claim_id(MERCHANT_A, "order-2")


@pytest.mark.parametrize("key", ["k", "x" * MAX_KEY_LENGTH, "9f1c-ab_~!", "with space"])
def test_keys_of_1_to_255_printable_ascii_characters_are_accepted(key: str) -> None:
    assert check_idempotency_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "x" * (MAX_KEY_LENGTH + 1), "caf\u00e9", "a\nb", "a\tb", "\x00"], ids=repr
)
def test_empty_long_non_ascii_or_unprintable_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        claim_id(MERCHANT_A, key)

    assert refused.value.field == "Idempotency-Key"


def test_a_record_is_stored_under_the_claim_id_and_points_at_the_version_left() -> None:
    payment = new_payment()
    record = IdempotencyRecord.record(
        merchant_id=MERCHANT_A,
        key="capture-1",
        operation="capture",
        request_hash="h",
        target=payment,
        meta=merchant_meta(),
    )

    assert record.id == claim_id(MERCHANT_A, "capture-1")
    assert (record.target_id, record.target_version) == (payment.id, payment.version)
    assert (record.operation, record.request_hash) == ("capture", "h")
