"""What a settlement claims, on the in-memory store: a dispute's items wait with the
capture they charge back while the acquirer has not made it."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from paysource.application.eventlog import EventStore
from paysource.application.settlements import SettlementService
from paysource.domain.card import CardDetails
from paysource.domain.dispute import Dispute, DisputeReason
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment
from paysource.domain.risk import RiskAssessment, RiskOutcome
from paysource.domain.settlement import Item, ItemClaim, ItemKind, Settlement

CUTOFF = datetime(2026, 12, 2, tzinfo=UTC)
MERCHANT = uuid4()
META = Meta(ActorKind.ADMIN, "test")
CARD = CardDetails(token="tok_visa", brand="visa", bin="424242", last4="4242")


class Items:
    def __init__(self, *items: Item) -> None:
        self.items = list(items)

    def waiting_items(
        self, *, merchant_id: UUID, currency: str, until: datetime, limit: int
    ) -> list[Item]:
        return self.items[:limit]

    def due(self, *, until: datetime) -> list[tuple[UUID, str]]:
        return []


def close(store: EventStore, *items: Item) -> Settlement:
    service = SettlementService(store, Items(*items))
    return service.close(merchant_id=MERCHANT, currency="USD", until=CUTOFF, meta=META).value


def capture(amount: int) -> Item:
    payment = uuid4()
    return Item(ItemKind.CAPTURE, payment, payment, amount, 0)


def unconfirmed_capture(store: EventStore, amount: int) -> Payment:
    meta = Meta(ActorKind.MERCHANT, str(MERCHANT))
    payment = Payment.create(
        payment_id=uuid4(),
        merchant_id=MERCHANT,
        customer_id=None,
        amount=Money(amount, "USD"),
        capture_method=CaptureMethod.MANUAL,
        card=CARD,
        description=None,
        metadata={},
        request_hash="h",
        meta=meta,
    )
    payment.assess_risk(RiskAssessment(RiskOutcome.NORMAL, 0), meta)
    payment.authorize(authorization_code="A1", acquirer_reference="acq-1", meta=meta)
    payment.capture(None, FeeSchedule(), meta)
    store.save(payment)
    return payment


def test_the_items_of_a_dispute_of_a_refused_capture_wait_with_it(store: EventStore) -> None:
    # A dispute opened before disputes waited for the acquirer's confirmation: the
    # acquirer then refused the capture, and the dispute was won.
    payment = unconfirmed_capture(store, 10_000)
    payment.capture_confirmed_at = CUTOFF  # as it looked when the dispute opened
    dispute = Dispute.open(
        payment=payment,
        amount=None,
        reason=DisputeReason.FRAUDULENT,
        source="admin",
        request_hash="h",
        meta=META,
    )
    store.save(dispute)
    refused = store.get(payment.id, Payment)
    assert refused is not None
    refused.record_relay_failure(operation="capture", reason="lapsed", meta=META)
    store.save(refused)
    debit = Item(ItemKind.DISPUTE, dispute.id, payment.id, 10_000, dispute.fee_minor)
    returned = Item(ItemKind.DISPUTE_WON, dispute.id, None, 10_000, dispute.fee_minor)
    held = Item(ItemKind.CAPTURE, payment.id, payment.id, 10_000)
    other = capture(2_000)

    settlement = close(store, held, debit, returned, other)

    # Neither the chargeback nor its return is settled while the capture is not.
    assert settlement.items == [other]
    assert [store.get(i.claim_id, ItemClaim) for i in (held, debit, returned)] == [None] * 3
