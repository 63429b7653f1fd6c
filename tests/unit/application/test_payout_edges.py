"""The payouts process at its edges, on the in-memory store: a converted payout of zero
is never sent to the bank, and a payout stored out of range (before conversions were
checked) fails that settlement alone instead of stopping every merchant's payouts."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.utils import get_topic
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from paysource.adapters.clock import ManualClock
from paysource.application.eventlog import EventStore, Follower, Wakeup, run_until_caught_up
from paysource.application.ports import PayoutResult
from paysource.domain import ledger
from paysource.domain.errors import IllegalTransition
from paysource.domain.fx import ConversionOutOfRange
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import MAX_AMOUNT_MINOR, Money
from paysource.domain.rates import Rate
from paysource.domain.settlement import Item, ItemClaim, ItemKind, Settlement, SettlementStatus
from paysource.processes.payouts import PayoutProcessor, PayoutRetry

CUTOFF = datetime(2026, 12, 2, tzinfo=UTC)
META = Meta(ActorKind.ADMIN, "test")
# 500 yen a dinar: one fils is half a yen, which rounds (half-even) to none.
KWD_JPY = Rate("KWD", "JPY", Decimal(500), CUTOFF - timedelta(days=1))


class Bank:
    def __init__(self) -> None:
        self.paid: list[tuple[str, Money]] = []

    def payout(self, *, idempotency_key: str, merchant_id: UUID, amount: Money) -> PayoutResult:
        self.paid.append((idempotency_key, amount))
        return PayoutResult(accepted=True, reference=f"po_{len(self.paid)}")

    def settle_unknown(self, *, idempotency_key: str) -> PayoutResult | None:
        return None


def item(kind: ItemKind, amount: int, fee: int = 0) -> Item:
    ref = uuid4()
    return Item(kind, ref, ref, amount, fee)


def closed(
    store: EventStore, items: list[Item], rate: Rate | None = None, currency: str = "KWD"
) -> Settlement:
    settlement = Settlement.open(merchant_id=uuid4(), currency=currency, cutoff=CUTOFF, meta=META)
    settlement.close(items, META)
    if rate is not None:
        settlement.convert(rate, META)
    claims = [ItemClaim.first_claim(i, settlement.id, META) for i in items]
    store.save(settlement, *claims)
    return settlement


def pay_out(store: EventStore, bank: Bank) -> None:
    processor = PayoutProcessor(store, bank, ManualClock(), retry=PayoutRetry(1, 0.0))
    run_until_caught_up(Follower(store, processor, wakeup=Wakeup()), timeout_s=5)


def reloaded(store: EventStore, settlement: Settlement) -> Settlement:
    found = store.get(settlement.id, Settlement)
    assert found is not None
    return found


def test_a_payout_converting_to_zero_is_paid_with_nothing_sent_to_the_bank(
    store: EventStore,
) -> None:
    # 3 and -2 fils: items 2 and -1 yen (sum 1), the 1-fils net pays out 0 yen.
    settlement = closed(store, [item(ItemKind.CAPTURE, 3), item(ItemKind.REFUND, 2)], KWD_JPY)
    assert (settlement.net_minor, settlement.payout_minor) == (1, 0)
    bank = Bank()

    pay_out(store, bank)

    assert bank.paid == []
    paid = reloaded(store, settlement)
    assert (paid.status, paid.payout_reference) == (SettlementStatus.PAID, None)
    last = store.history(settlement.id)[-1]
    assert isinstance(last, Settlement.Paid)
    assert (last.amount_minor, last.currency) == (0, "JPY")


def test_a_zero_payout_leaves_the_ledger_balanced_with_the_fils_on_the_platforms_books(
    store: EventStore,
) -> None:
    settlement = closed(store, [item(ItemKind.CAPTURE, 3), item(ItemKind.REFUND, 2)], KWD_JPY)
    pay_out(store, Bank())

    balances: dict[tuple[str, str, str], int] = defaultdict(int)
    entries = [_entry(event) for event in store.history(settlement.id)]
    for entry in filter(None, entries):
        for line in entry.lines:
            signed = line.amount_minor if line.side is ledger.Side.DEBIT else -line.amount_minor
            balances[(line.account.name, line.currency_in(entry), str(line.phase))] += signed

    merchant = settlement.merchant_id
    moved = {key: value for key, value in balances.items() if value}
    assert moved == {
        # The merchant's 1-fils net left its KWD balance for the platform's position...
        (f"merchant_balance:{merchant}", "KWD", "posted"): 1,
        ("fx_conversion:platform", "KWD", "posted"): -1,
        # ...which paid its items (1 yen) in JPY, and rounding the payout to 0 took it back.
        ("fx_conversion:platform", "JPY", "posted"): 1,
        ("fx_gains_losses:platform", "JPY", "posted"): -1,
        # The KWD payout pending since Closed is voided by the conversion (its release);
        # nothing is pending or paid in JPY.
        (f"merchant_balance:{merchant}", "KWD", "pending"): 1,
        (f"payouts:{merchant}", "KWD", "pending"): -1,
        (f"merchant_balance:{merchant}", "KWD", "release"): 1,
        (f"payouts:{merchant}", "KWD", "release"): -1,
    }


@given(
    pair=st.lists(st.sampled_from(["JPY", "USD", "KWD"]), min_size=2, max_size=2, unique=True),
    rate=st.builds(lambda d, p: Decimal(d).scaleb(-p), st.integers(1, 10**6), st.integers(0, 6)),
    nets=st.lists(st.integers(-20, 20), min_size=1, max_size=5),
)
@settings(max_examples=60, deadline=None)
def test_a_converted_payout_sends_the_bank_only_amounts_and_the_merchant_nets_to_zero(
    pair: list[str], rate: Decimal, nets: list[int]
) -> None:
    assume(sum(nets) > 0)  # only a positive net is paid out (and converted)
    store = EventStore({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    items = [item(ItemKind.CAPTURE, n) if n >= 0 else item(ItemKind.REFUND, -n) for n in nets]
    try:
        settlement = closed(store, items, Rate(pair[0], pair[1], rate, CUTOFF), pair[0])
    except ConversionOutOfRange:
        return
    bank = Bank()

    pay_out(store, bank)

    assert all(amount.amount_minor > 0 for _, amount in bank.paid)
    assert len(bank.paid) == (1 if settlement.payout_minor else 0)
    assert reloaded(store, settlement).status is SettlementStatus.PAID
    balance = f"merchant_balance:{settlement.merchant_id}"
    moved: dict[tuple[str, str, ledger.Phase], int] = defaultdict(int)
    for entry in filter(None, (_entry(e) for e in store.history(settlement.id))):
        for line in entry.lines:
            signed = line.amount_minor if line.side is ledger.Side.DEBIT else -line.amount_minor
            moved[(line.account.name, line.currency_in(entry), line.phase)] += signed
    # In the payout currency the merchant is paid what it was owed, nothing left pending.
    assert moved[(balance, pair[1], ledger.Phase.POSTED)] == 0
    pending = moved[(balance, pair[1], ledger.Phase.PENDING)]
    assert pending == moved[(balance, pair[1], ledger.Phase.RELEASE)]


def _entry(event: object) -> ledger.Entry | None:
    if isinstance(event, Settlement.Closed) and event.net_minor > 0:
        return ledger.payout_pending(event.merchant_id, event.currency, event.net_minor)
    if isinstance(event, Settlement.Converted):
        return ledger.fx_converted(
            event.merchant_id,
            event.currency,
            event.payout_currency,
            net_minor=event.net_minor,
            items_minor=event.items_minor,
            payout_minor=event.payout_minor,
        )
    if isinstance(event, Settlement.Paid):
        return ledger.payout_paid(event.merchant_id, event.currency, event.amount_minor)
    return None


def test_a_payout_stored_out_of_range_fails_its_settlement_and_others_are_paid(
    store: EventStore,
) -> None:
    """Written before conversions were checked: a Converted event whose payout is not an
    amount. Appended directly, as such a log holds it."""
    capture = item(ItemKind.CAPTURE, 10_000)
    stored = closed(store, [capture])  # KWD, unconverted: converted by hand below
    out_of_range = MAX_AMOUNT_MINOR + 1
    stored._record(
        Settlement.Converted,
        META,
        merchant_id=stored.merchant_id,
        currency="KWD",
        payout_currency="JPY",
        pair="KWD/JPY",
        rate="1000000000",
        rate_valid_from=KWD_JPY.valid_from,
        rate_source="before the range check",
        net_minor=10_000,
        item_nets=[out_of_range],
        items_minor=out_of_range,
        payout_minor=out_of_range,
        fx_difference_minor=0,
    )
    store.save(stored)
    other = closed(store, [item(ItemKind.CAPTURE, 5_000)])  # after it in the log
    bank = Bank()

    pay_out(store, bank)

    assert [amount for _, amount in bank.paid] == [Money(5_000, "KWD")]
    assert reloaded(store, other).status is SettlementStatus.PAID
    failed = reloaded(store, stored)
    assert (failed.status, failed.failure_reason) == (
        SettlementStatus.FAILED,
        "payout_out_of_range",
    )
    claim = store.get(capture.claim_id, ItemClaim)
    assert claim is not None
    assert claim.settlement_id is None  # released for the next settlement
    assert get_topic(Settlement.ConversionReversed) in {
        get_topic(type(e)) for e in store.history(stored.id)
    }


def test_only_a_payout_of_zero_is_paid_without_a_bank_reference(store: EventStore) -> None:
    owed = closed(store, [item(ItemKind.CAPTURE, 10_000)])
    nothing = closed(store, [item(ItemKind.CAPTURE, 1)], KWD_JPY)

    with pytest.raises(IllegalTransition):
        owed.mark_paid(payout_reference=None, meta=META)
    with pytest.raises(IllegalTransition):
        nothing.mark_paid(payout_reference="po_1", meta=META)
