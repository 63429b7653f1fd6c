"""The settlement service's conversion, on the in-memory store: it waits without a rate
(claiming nothing), resumes the same settlement once one is loaded, and replays a
settlement that is no longer open instead of closing it twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from paysource.application.eventlog import EventStore
from paysource.application.settlements import (
    Closing,
    NothingToSettle,
    RateUnavailable,
    SettlementService,
)
from paysource.application.webhooks.catalog import standard_catalog
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import MAX_AMOUNT_MINOR
from paysource.domain.rates import Rate
from paysource.domain.settlement import Item, ItemClaim, ItemKind, Settlement, SettlementStatus

CUTOFF = datetime(2026, 12, 2, tzinfo=UTC)
MERCHANT = uuid4()
META = Meta(ActorKind.ADMIN, "test")


class Items:
    def __init__(self, *items: Item) -> None:
        self.items = list(items)

    def waiting_items(
        self, *, merchant_id: UUID, currency: str, until: datetime, limit: int
    ) -> list[Item]:
        return self.items[:limit]

    def due(self, *, until: datetime) -> list[tuple[UUID, str]]:
        return []


class Rates:
    def __init__(self) -> None:
        self.rates: list[Rate] = []

    def at(self, base: str, quote: str, moment: datetime) -> Rate | None:
        found = [r for r in self.rates if (r.base, r.quote) == (base, quote)]
        return next((r for r in found if r.valid_from <= moment), None)


def service(store: EventStore, items: Items, rates: Rates) -> SettlementService:
    return SettlementService(store, items, rates=rates, settlement_currency=lambda _: "EUR")


def close(settlements: SettlementService) -> Closing:
    return settlements.close(merchant_id=MERCHANT, currency="USD", until=CUTOFF, meta=META)


def capture(amount: int, fee: int) -> Item:
    payment = uuid4()
    return Item(ItemKind.CAPTURE, payment, payment, amount, fee)


def test_without_a_rate_it_waits_claims_nothing_then_resumes_the_same_settlement(
    store: EventStore,
) -> None:
    item, rates = capture(10_000, 320), Rates()
    settlements = service(store, Items(item), rates)

    with pytest.raises(RateUnavailable) as waiting:
        close(settlements)

    assert waiting.value.pair == "USD/EUR"
    assert store.get(item.claim_id, ItemClaim) is None  # the item stays free
    rates.rates.append(Rate("USD", "EUR", Decimal("0.9215"), CUTOFF - timedelta(days=1)))
    outcome = settlements.close(merchant_id=MERCHANT, currency="USD", until=CUTOFF, meta=META)
    assert outcome.value.id == waiting.value.settlement
    assert not outcome.replayed
    assert (outcome.value.payout_currency, outcome.value.payout_minor) == ("EUR", 8_920)
    assert outcome.value.waiting_reason is None
    again = settlements.close(merchant_id=MERCHANT, currency="USD", until=CUTOFF, meta=META)
    assert again.replayed


def test_a_rate_valid_only_after_the_cutoff_does_not_convert_it(store: EventStore) -> None:
    rates = Rates()
    rates.rates.append(Rate("USD", "EUR", Decimal("0.9"), CUTOFF + timedelta(seconds=1)))

    with pytest.raises(RateUnavailable):
        close(service(store, Items(capture(1_000, 59)), rates))


def test_a_net_carried_forward_is_not_converted_and_is_replayed_afterwards(
    store: EventStore,
) -> None:
    refund = Item(ItemKind.REFUND, uuid4(), uuid4(), 5_000)
    rates = Rates()
    settlements = service(store, Items(capture(1_000, 59), refund), rates)
    with pytest.raises(RateUnavailable):
        close(settlements)
    rates.rates.append(Rate("USD", "EUR", Decimal("0.9"), CUTOFF))

    first = settlements.close(merchant_id=MERCHANT, currency="USD", until=CUTOFF, meta=META)
    again = settlements.close(merchant_id=MERCHANT, currency="USD", until=CUTOFF, meta=META)

    assert first.value.status is SettlementStatus.CARRIED_FORWARD
    assert first.value.conversion is None  # the debit stays in USD
    assert again.replayed


def test_nothing_waiting_is_nothing_to_settle_not_a_wait(store: EventStore) -> None:
    with pytest.raises(NothingToSettle):
        close(service(store, Items(), Rates()))


def test_a_merchant_settling_in_the_items_currency_needs_no_rate(store: EventStore) -> None:
    settlements = SettlementService(
        store, Items(capture(1_000, 59)), rates=Rates(), settlement_currency=lambda _: "USD"
    )

    outcome = close(settlements)

    assert outcome.value.conversion is None


def test_a_settlement_still_waiting_is_superseded_by_a_later_cutoffs_in_the_same_save(
    store: EventStore,
) -> None:
    item, rates = capture(10_000, 320), Rates()
    settlements = service(store, Items(item), rates)
    with pytest.raises(RateUnavailable) as waiting:
        close(settlements)
    # A rate from after the first cut-off: only the later one can convert.
    rates.rates.append(Rate("USD", "EUR", Decimal("0.9215"), CUTOFF + timedelta(hours=1)))
    later = CUTOFF + timedelta(days=1)

    outcome = settlements.close(merchant_id=MERCHANT, currency="USD", until=later, meta=META)

    assert outcome.value.status is SettlementStatus.CLOSED
    assert outcome.value.items == [item]
    earlier = store.get(waiting.value.settlement, Settlement)
    assert earlier is not None
    assert (earlier.status, earlier.superseded_by) == (
        SettlementStatus.SUPERSEDED,
        outcome.value.id,
    )
    assert earlier.waiting_reason is None
    claim = store.get(item.claim_id, ItemClaim)
    assert claim is not None
    assert claim.settlement_id == outcome.value.id
    # Asked again, the earlier cut-off answers that it was superseded, and nothing moves.
    head = store.head()
    again = close(settlements)
    assert again.replayed
    assert again.value.status is SettlementStatus.SUPERSEDED
    assert store.head() == head


def test_a_waiting_settlement_that_closes_at_its_own_rate_is_never_superseded(
    store: EventStore,
) -> None:
    rates = Rates()
    settlements = service(store, Items(capture(1_000, 59)), rates)
    with pytest.raises(RateUnavailable):
        close(settlements)
    rates.rates.append(Rate("USD", "EUR", Decimal("0.9"), CUTOFF))
    first = close(settlements)
    settlements_later = service(store, Items(capture(2_000, 88)), rates)

    later = settlements_later.close(
        merchant_id=MERCHANT, currency="USD", until=CUTOFF + timedelta(days=1), meta=META
    )

    assert later.value.status is SettlementStatus.CLOSED
    found = store.get(first.value.id, Settlement)
    assert found is not None
    assert (found.status, found.superseded_by) == (SettlementStatus.CLOSED, None)


@pytest.mark.parametrize("when", ["before_the_register_is_read", "before_the_save"])
def test_a_waiting_settlement_closing_at_its_own_rate_meanwhile_is_not_also_superseded(
    store: EventStore, when: str
) -> None:
    """The earlier cut-off closes (a rate for it came) while a later one is closing:
    whichever saves second conflicts and is retried; the earlier ends exactly once."""
    item, rates = capture(10_000, 320), Rates()
    first = service(store, Items(item), rates)
    with pytest.raises(RateUnavailable):
        close(first)
    rates.rates.append(Rate("USD", "EUR", Decimal("0.9"), CUTOFF))
    later = service(store, Items(item), rates)
    closing, pending = later._waits.closing, [when]

    def interleaved(settlement: Settlement, meta: Meta) -> list[Any]:
        if pending == ["before_the_register_is_read"]:
            pending.clear()
            close(first)
        changed = closing(settlement, meta)
        if pending == ["before_the_save"]:
            pending.clear()
            close(first)
        return changed

    later._waits.closing = interleaved  # type: ignore[method-assign]
    with pytest.raises(NothingToSettle):  # retried: its only item is in the earlier one
        later.close(merchant_id=MERCHANT, currency="USD", until=CUTOFF + timedelta(1), meta=META)

    earlier = close(first)
    assert earlier.replayed
    assert (earlier.value.status, earlier.value.superseded_by) == (SettlementStatus.CLOSED, None)
    assert earlier.value.items == [item]


USD_LBP = Rate("USD", "LBP", Decimal(89500), CUTOFF)
LARGEST_USD = MAX_AMOUNT_MINOR // 89_500  # cents that convert to the largest LBP payout


def in_lbp(store: EventStore, items: Items) -> SettlementService:
    rates = Rates()
    rates.rates.append(USD_LBP)
    return SettlementService(store, items, rates=rates, settlement_currency=lambda _: "LBP")


def test_captures_that_would_convert_above_the_largest_payout_wait_for_the_next_one(
    store: EventStore,
) -> None:
    first, second = capture(LARGEST_USD // 2, 0), capture(LARGEST_USD // 2 + 10, 0)

    outcome = close(in_lbp(store, Items(first, second)))

    assert outcome.value.items == [first]
    assert 0 < outcome.value.payout_minor <= MAX_AMOUNT_MINOR
    assert store.get(second.claim_id, ItemClaim) is None  # free for the next settlement


def test_a_capture_that_alone_converts_above_the_largest_payout_waits_with_why(
    store: EventStore,
) -> None:
    item = capture(LARGEST_USD + 1, 0)

    with pytest.raises(RateUnavailable) as waiting:
        close(in_lbp(store, Items(item)))

    assert waiting.value.pair == "USD/LBP"
    assert "largest payout" in waiting.value.detail
    found = store.get(waiting.value.settlement, Settlement)
    assert found is not None
    assert (found.status, found.conversion) == (SettlementStatus.OPEN, None)
    assert found.waiting_reason == waiting.value.detail
    assert store.get(item.claim_id, ItemClaim) is None


def test_a_superseded_settlement_is_sent_as_a_settlement_superseded_webhook() -> None:
    found = standard_catalog().lookup(
        Settlement.Superseded(
            originator_id=uuid4(),
            originator_version=3,
            timestamp=CUTOFF,
            meta={},
            by=uuid4(),
            merchant_id=MERCHANT,
            currency="USD",
        )
    )
    assert found is not None
    assert found[1] == "settlement.superseded"
