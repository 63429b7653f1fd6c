"""A dispute's evidence is sealed under the dispute's key: whatever the merchant sends,
the stored event holds none of its personal values, decodes as sent, and decodes with
exactly those values erased once the key is destroyed (docs/audit.md)."""

from __future__ import annotations

import string
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysource.adapters.pii_crypto import MemoryPersonalDataVault
from paysource.application.customers import CustomerService
from paysource.application.disputes import DisputeService
from paysource.application.eventlog import PERSONAL, EventStore
from paysource.application.personal_data import SealingMapper
from paysource.domain.dispute import Dispute, DisputeReason
from paysource.domain.dispute_evidence import EVIDENCE_FIELDS, erase_evidence, is_personal_evidence
from paysource.domain.errors import IllegalTransition
from paysource.domain.personal import ERASED
from tests.unit.domain.domain_builders import MERCHANT_ID, captured_payment, merchant_meta

# Letters only, and long: a value cannot turn up in the stored JSON by chance.
VALUES = st.text(string.ascii_letters, min_size=16, max_size=40)
EVIDENCE = st.dictionaries(st.sampled_from(EVIDENCE_FIELDS), VALUES, min_size=1).filter(
    lambda e: not _overlap(list(e.values()))
)


def _overlap(values: list[str]) -> bool:
    """One value inside another: the stored form of one would show the other."""
    return any(a in b for i, a in enumerate(values) for j, b in enumerate(values) if i != j)


def opened() -> Dispute:
    return Dispute.open(
        payment=captured_payment(confirmed=True),
        amount=None,
        reason=DisputeReason.FRAUDULENT,
        source="admin",
        request_hash="h",
        meta=merchant_meta(),
    )


@settings(max_examples=60, deadline=None)
@given(evidence=EVIDENCE)
def test_evidence_is_stored_without_its_personal_values_and_erases_to_exactly_them(
    evidence: dict[str, str],
) -> None:
    vault = MemoryPersonalDataVault()
    base = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})._app.mapper
    mapper = SealingMapper(base, vault, PERSONAL)
    dispute = opened()
    dispute.submit_evidence(evidence, merchant_meta())
    submitted = dispute.collect_events()[-1]

    stored = mapper.to_stored_event(submitted)
    read = mapper.to_domain_event(stored)
    vault.destroy(dispute.id)
    erased = mapper.to_domain_event(stored)

    for name, value in evidence.items():
        assert (value.encode() in stored.state) is not is_personal_evidence(name), name
    assert isinstance(read, Dispute.EvidenceSubmitted)
    assert read.evidence == evidence
    assert isinstance(erased, Dispute.EvidenceSubmitted)
    assert erased.evidence == erase_evidence(evidence)


def test_evidence_without_personal_fields_makes_no_key() -> None:
    vault = MemoryPersonalDataVault()
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"}, vault=vault)
    dispute = opened()
    dispute.submit_evidence({"refund_policy": "30 days"}, merchant_meta())

    store.save(dispute)

    assert vault._keys == {}


def test_erased_evidence_refuses_personal_fields_but_takes_the_merchants_own() -> None:
    dispute = opened()
    dispute.erase_evidence(merchant_meta())
    dispute.erase_evidence(merchant_meta())  # once

    with pytest.raises(IllegalTransition) as refused:
        dispute.submit_evidence({"customer_email": "a@b.test"}, merchant_meta())
    dispute.submit_evidence({"product_description": "a lamp"}, merchant_meta())

    assert refused.value.code == "customer_erased"
    assert [type(e).__name__ for e in dispute.collect_events()] == [
        "Opened",
        "EvidenceErased",
        "EvidenceSubmitted",
    ]


class Found:
    """The read model's answer (`CustomerDisputes`), as the erasure asks it."""

    def __init__(self) -> None:
        self.disputes: list[UUID] = []

    def of_customer(self, *, merchant_id: UUID, customer_id: UUID) -> list[UUID]:
        return list(self.disputes)


def test_erasing_a_customer_erases_the_evidence_of_its_payments_disputes() -> None:
    vault = MemoryPersonalDataVault()
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"}, vault=vault)
    found = Found()
    disputes = DisputeService(store, vault, found)
    customers = CustomerService(store, vault, disputes)
    meta = merchant_meta()
    customer = customers.create_customer(
        merchant_id=MERCHANT_ID,
        name="Ada",
        email=None,
        metadata={},
        idempotency_key=None,
        request_hash="c",
        meta=meta,
    ).value
    dispute = opened()
    dispute.submit_evidence({"customer_name": "Ada Lovelace", "refund_policy": "30 d"}, meta)
    store.save(dispute)
    found.disputes = [dispute.id]

    customers.erase_customer(merchant_id=None, customer_id=customer.id, meta=meta)

    after = store.get(dispute.id, Dispute)
    assert after is not None
    assert after.evidence == {"customer_name": ERASED, "refund_policy": "30 d"}
    assert after.evidence_erased
    assert vault._keys[dispute.id] is None
