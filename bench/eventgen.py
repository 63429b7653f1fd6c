"""Realistic payment histories written straight into the event store: fast, no HTTP.

Merchants (USD, EUR, JPY) with customers take payments that go through the domain's
own commands, as the processor and the merchants would run them: risk, authorize or
decline, capture (automatic, or manual and sometimes partial), cancel, refunds that
succeed or fail, and a settlement per merchant and round with a claim per item, paid
out. Hundreds of aggregates go into each `store.save` (one transaction), so ~200k
events take seconds, and the log holds every kind of event the read models follow.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field
from uuid import UUID, uuid4

from paysource.adapters.vault import TestCardVault
from paysource.application.eventlog import EventStore
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.card import CardDetails
from paysource.domain.customer import Customer
from paysource.domain.fees import FeeSchedule
from paysource.domain.merchant import Merchant
from paysource.domain.meta import ActorKind, KeyDigest, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment, PaymentStatus
from paysource.domain.refund import Refund, RefundReason
from paysource.domain.risk import RiskPolicy, assess
from paysource.domain.settlement import Item, ItemClaim, ItemKind, Settlement

CURRENCIES = (("USD", 500, 40_000), ("EUR", 500, 30_000), ("JPY", 100, 20_000))
CUSTOMERS_PER_MERCHANT = 20
PAYMENTS_PER_MERCHANT_ROUND = 25
POLICY = RiskPolicy()


@dataclass
class Shop:
    merchant: Merchant
    customers: list[UUID]
    # Captures and succeeded refunds of this round, settled at its end.
    items: list[Item] = field(default_factory=list)


@dataclass
class Generated:
    events: int = 0
    merchants: int = 0
    payments: int = 0
    refunds: int = 0
    settlements: int = 0
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class Cards:
    def __init__(self) -> None:
        vault = TestCardVault()
        found = {t: vault.describe(t) for t in ("tok_visa", "tok_mastercard", "tok_risk")}
        self.by_token: dict[str, CardDetails] = {t: c for t, c in found.items() if c}


def generate(store: EventStore, *, events: int, merchants: int = 40, seed: int = 7) -> Generated:
    """Write rounds of payments until the log holds at least `events` more events."""
    rng, cards, report = random.Random(seed), Cards(), Generated()
    started = time.perf_counter()
    shops = [open_shop(rng, number) for number in range(merchants)]
    report.events += len(store.save(*[s.merchant for s in shops], *customers(shops)))
    report.merchants = len(shops)
    while report.events < events:
        batch: list[PaysourceAggregate] = []
        for shop in shops:
            for _ in range(PAYMENTS_PER_MERCHANT_ROUND):
                batch += lifecycle(rng, cards, shop, report)
        batch += [a for shop in shops for a in settle(shop, report)]
        report.events += len(store.save(*batch))
    report.seconds = time.perf_counter() - started
    return report


def open_shop(rng: random.Random, number: int) -> Shop:
    currency = CURRENCIES[number % len(CURRENCIES)][0]
    merchant = Merchant.register(
        merchant_id=uuid4(),
        name=f"Bench Shop {number}",
        email=f"shop{number}@example.com",
        settlement_currency=currency,
        fees=FeeSchedule(rng.choice((250, 290, 340)), {currency: 0 if currency == "JPY" else 30}),
        request_hash=f"{number:064x}",
        meta=Meta(ActorKind.ADMIN, "bench"),
    )
    return Shop(merchant, [uuid4() for _ in range(CUSTOMERS_PER_MERCHANT)])


def customers(shops: list[Shop]) -> list[Customer]:
    return [
        Customer.create(
            customer_id=customer_id,
            merchant_id=shop.merchant.id,
            name=f"Customer {number}",
            email=f"customer{number}@example.com",
            metadata={"segment": "bench"},
            request_hash=f"{number:064x}",
            meta=Meta(ActorKind.MERCHANT, str(shop.merchant.id)),
        )
        for shop in shops
        for number, customer_id in enumerate(shop.customers)
    ]


def lifecycle(
    rng: random.Random, cards: Cards, shop: Shop, report: Generated
) -> list[PaysourceAggregate]:
    """One payment from creation to its final state, and its refund if any."""
    payment = create_payment(rng, cards, shop)
    system = Meta(ActorKind.SYSTEM, "processor")
    assessment = assess(POLICY, amount=payment.amount, card=payment.card, recent_payments=0)
    payment.assess_risk(assessment, system)
    roll = rng.random()
    if payment.status is PaymentStatus.PROCESSING:
        if roll < 0.08:
            code = rng.choice(("card_declined", "insufficient_funds"))
            payment.decline(decline_code=code, message="the card was declined", meta=system)
        else:
            payment.authorize(
                authorization_code=f"{rng.getrandbits(24):06X}",
                acquirer_reference=f"sim_{rng.getrandbits(96):024x}",
                meta=system,
            )
            after_authorization(rng, shop, payment, roll)
    report.payments += 1
    report.statuses[str(payment.status)] = report.statuses.get(str(payment.status), 0) + 1
    found: list[PaysourceAggregate] = [payment]
    if payment.status is PaymentStatus.SUCCEEDED:
        shop.items.append(
            Item(
                ItemKind.CAPTURE, payment.id, payment.id, payment.amount_captured, payment.fee_minor
            )
        )
        if rng.random() < 0.10:
            found.append(refund(rng, shop, payment))
            report.refunds += 1
    return found


def create_payment(rng: random.Random, cards: Cards, shop: Shop) -> Payment:
    merchant = shop.merchant
    low, high = next((lo, hi) for c, lo, hi in CURRENCIES if c == merchant.settlement_currency)
    token = "tok_risk" if rng.random() < 0.02 else rng.choice(("tok_visa", "tok_mastercard"))
    manual = rng.random() < 0.15
    order = rng.getrandbits(32)
    return Payment.create(
        payment_id=uuid4(),
        merchant_id=merchant.id,
        customer_id=rng.choice(shop.customers) if rng.random() < 0.5 else None,
        amount=Money(rng.randint(low, high), merchant.settlement_currency),
        capture_method=CaptureMethod.MANUAL if manual else CaptureMethod.AUTOMATIC,
        card=cards.by_token[token],
        description=f"Order {order}" if rng.random() < 0.5 else None,
        metadata={"order_id": str(order)} if rng.random() < 0.3 else {},
        request_hash=f"{order:064x}",
        # As idempotency.key_digest stores it: a keyed hash, never the key.
        meta=Meta(
            ActorKind.MERCHANT,
            str(merchant.id),
            idempotency_key_hmac=KeyDigest(hashlib.sha256(f"order-{order}".encode()).hexdigest()),
        ),
    )


def after_authorization(rng: random.Random, shop: Shop, payment: Payment, roll: float) -> None:
    """Capture automatic payments; manual ones are captured (some in part), canceled
    or left on hold (younger than the hold TTL, so no sweeper touches them)."""
    merchant = Meta(ActorKind.MERCHANT, str(shop.merchant.id))
    if payment.capture_method is CaptureMethod.AUTOMATIC:
        payment.capture(None, shop.merchant.fees, Meta(ActorKind.SYSTEM, "processor"))
    elif roll < 0.40:
        payment.cancel(merchant)
    elif roll < 0.45:
        return
    elif roll < 0.60:
        part = Money(max(1, payment.amount_minor * 8 // 10), payment.currency)
        payment.capture(part, shop.merchant.fees, merchant)
    else:
        payment.capture(None, shop.merchant.fees, merchant)


def refund(rng: random.Random, shop: Shop, payment: Payment) -> Refund:
    """A full or partial refund; one in twenty fails at the acquirer."""
    part = None if rng.random() < 0.8 else Money(payment.amount_captured // 2, payment.currency)
    opened = Refund.open(
        refund_id=uuid4(),
        payment=payment,
        amount=part,
        reason=rng.choice(list(RefundReason)),
        request_hash=f"{rng.getrandbits(64):064x}",
        meta=Meta(ActorKind.MERCHANT, str(shop.merchant.id)),
    )
    system = Meta(ActorKind.SYSTEM, "processor")
    if rng.random() < 0.05:
        opened.fail(payment, failure_code="refund_declined", meta=system)
    else:
        opened.succeed(payment, acquirer_reference=f"sim_{rng.getrandbits(96):024x}", meta=system)
        shop.items.append(
            Item(ItemKind.REFUND, opened.id, payment.id, opened.amount_minor, fee_minor=0)
        )
    return opened


def settle(shop: Shop, report: Generated) -> list[PaysourceAggregate]:
    """Close this round's items in a settlement, claim each, and pay it out."""
    if not shop.items:
        return []
    meta = Meta.system("settlements")
    merchant = shop.merchant
    settlement = Settlement.open(
        merchant_id=merchant.id, currency=merchant.settlement_currency, cutoff=meta.at, meta=meta
    )
    claims = [ItemClaim.first_claim(item, settlement.id, meta) for item in shop.items]
    settlement.close(shop.items, meta)
    if settlement.net_minor > 0:
        settlement.mark_paid(payout_reference=f"po_{settlement.id.hex[:24]}", meta=meta)
    shop.items = []
    report.settlements += 1
    return [settlement, *claims]
