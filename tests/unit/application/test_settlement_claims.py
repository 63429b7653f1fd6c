"""What a settlement claims, on the in-memory store: every item that adds to the net (a
capture's gross, a won dispute's amount and fee) counts toward the largest payout, so a
payout stays an amount and the rest waits for the next cut-off; and a dispute's items
wait with the capture they charge back while the acquirer has not made it."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.persistence import Tracking

from paysource.adapters.clock import ManualClock
from paysource.application.eventlog import EventStore
from paysource.application.ports import PayoutResult
from paysource.application.settlements import SettlementService
from paysource.domain.card import CardDetails
from paysource.domain.dispute import Dispute, DisputeReason
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import MAX_AMOUNT_MINOR, Money
from paysource.domain.payment import CaptureMethod, Payment
from paysource.domain.risk import RiskAssessment, RiskOutcome
from paysource.domain.settlement import Item, ItemClaim, ItemKind, Settlement, SettlementStatus
from paysource.processes.payouts import PayoutProcessor, PayoutRetry

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


class Bank:
    def __init__(self) -> None:
        self.paid: list[Money] = []

    def payout(self, *, idempotency_key: str, merchant_id: UUID, amount: Money) -> PayoutResult:
        self.paid.append(amount)
        return PayoutResult(accepted=True, reference=f"po_{len(self.paid)}")

    def settle_unknown(self, *, idempotency_key: str) -> PayoutResult | None:
        return None


def close(store: EventStore, *items: Item) -> Settlement:
    service = SettlementService(store, Items(*items))
    return service.close(merchant_id=MERCHANT, currency="USD", until=CUTOFF, meta=META).value


def pay_out(store: EventStore, settlement: Settlement, bank: Bank) -> Settlement:
    payouts = PayoutProcessor(store, bank, ManualClock(), retry=PayoutRetry(1, 0.0))
    closed = [e for _, e in store.select(after=0, limit=100, topics=payouts.topics)]
    payouts.handle_batch(closed, Tracking(payouts.name, store.head()))
    paid = store.get(settlement.id, Settlement)
    assert paid is not None
    return paid


def capture(amount: int) -> Item:
    payment = uuid4()
    return Item(ItemKind.CAPTURE, payment, payment, amount, 0)


def test_a_won_dispute_counts_toward_the_largest_payout_and_the_rest_waits(
    store: EventStore,
) -> None:
    won = Item(ItemKind.DISPUTE_WON, uuid4(), None, 5 * 10**11, 1_500)
    captures = [capture(10**12) for _ in range(1_000)]  # exactly the largest payout

    settlement = close(store, won, *captures)

    # The won dispute and 999 captures fit; the last capture waits, unclaimed.
    assert settlement.items == [won, *captures[:-1]]
    assert settlement.net_minor == 999 * 10**12 + 5 * 10**11 + 1_500 <= MAX_AMOUNT_MINOR
    assert store.get(captures[-1].claim_id, ItemClaim) is None
    bank = Bank()
    paid = pay_out(store, settlement, bank)
    assert (paid.status, bank.paid) == (
        SettlementStatus.PAID,
        [Money(settlement.net_minor, "USD")],
    )


def test_a_won_dispute_after_the_captures_waits_when_it_would_pass_the_largest_payout(
    store: EventStore,
) -> None:
    captures = [capture(10**12) for _ in range(1_000)]
    won = Item(ItemKind.DISPUTE_WON, uuid4(), None, 1, 1_500)

    settlement = close(store, *captures, won)

    assert settlement.items == captures
    assert settlement.net_minor == MAX_AMOUNT_MINOR
    assert store.get(won.claim_id, ItemClaim) is None


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
