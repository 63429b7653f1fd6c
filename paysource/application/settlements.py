"""Settlements: close what a merchant is owed up to a cut-off; paying it out is the
saga's next step, a process manager (paysource.processes.payouts).

close ─▶ payout at the bank rail ─▶ paid
                └─ refused, or no answer past the retry budget ─▶ failed:
                   compensate by releasing every item for the next settlement
                   (the ledger projection reverses the pending payout lines)

A merchant paid in another currency than its items' (its settlement currency) is
converted at the operator's rate of the pair valid at the cut-off, recorded in the
settlement's `Converted` event; with no such rate the settlement waits, open and
claiming nothing, and says why (`RateUnavailable`) until a rate is loaded and the
close is asked again (the scheduler asks every tick). So does one the rate converts
beyond the largest payout (`ConversionOutOfRange`): nothing of it is recorded but the
wait and its reason, until a rate that converts it is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from paysource.application.caught_up import once
from paysource.application.errors import ApplicationError, NotFound
from paysource.application.eventlog import EventStore
from paysource.application.idempotency import Claims, Outcome
from paysource.application.settlement_waits import Waits
from paysource.domain.dispute import Dispute
from paysource.domain.errors import InvalidValue
from paysource.domain.fx import ConversionOutOfRange, conversion
from paysource.domain.idempotency import OPERATOR_KEYS, IdempotencyRecord
from paysource.domain.meta import Meta
from paysource.domain.money import MAX_AMOUNT_MINOR
from paysource.domain.payment import Payment
from paysource.domain.rates import Rate
from paysource.domain.settlement import (
    CARRIED_IN_KINDS,
    Item,
    ItemClaim,
    ItemKind,
    Settlement,
    SettlementStatus,
    settlement_id,
)

MAX_ITEMS_PER_SETTLEMENT = 10_000
# What a keyed close's claim says it answered: the settlement it closed (201), or one
# closed before it (200).
_CLOSED = "close_settlement"
_FOUND = "close_settlement_found"


@dataclass(frozen=True, slots=True)
class Closing:
    """What a close answers: the settlement as the close left it (or found it); whether
    this answer was given before (a keyed replay, or a settlement closed already); and
    whether the close, this one or the keyed one it replays, closed it (REST's 201)."""

    value: Settlement
    replayed: bool
    closed: bool


class NothingToSettle(ApplicationError):
    code = "nothing_to_settle"


class RateUnavailable(ApplicationError):
    """No loaded rate converts the items into the merchant's settlement currency at the
    cut-off: the settlement waits (open, its reason recorded) until one is loaded."""

    code = "rate_unavailable"

    def __init__(self, detail: str, *, settlement: UUID, pair: str) -> None:
        super().__init__(detail)
        self.settlement = settlement
        self.pair = pair


class SettlementRates(Protocol):
    def at(self, base: str, quote: str, moment: datetime) -> Rate | None: ...


def check_cutoff(until: datetime, now: datetime) -> datetime:
    """A cut-off must be a moment that has passed (items after it are not known yet),
    and one that is a moment in UTC too: the settlement's id is made of that."""
    if until.tzinfo is None:
        raise InvalidValue("the cut-off must have a time zone", field="until")
    try:
        until.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00, before year 1 in UTC
        raise InvalidValue(
            "the cut-off is out of range: it must be in years 1 to 9999 in UTC", field="until"
        ) from None
    if until > now:
        raise InvalidValue("the cut-off is in the future", field="until")
    return until


def _payable(gross_minor: int, rate: Rate | None) -> bool:
    """Whether a payout of `gross_minor`, converted at `rate` if any, is an amount (a
    first item is claimed whatever it converts to: the conversion check says why)."""
    if gross_minor > MAX_AMOUNT_MINOR:
        return False
    return rate is None or rate.convert(gross_minor) <= MAX_AMOUNT_MINOR


def _credit_minor(item: Item) -> int:
    """What `item` adds to a settlement's net at most: a capture's amount (its fee comes
    off later), a won dispute's amount and fee; debits add nothing. Their sum bounds the
    net from above, so keeping it an amount keeps the payout one."""
    if item.kind is ItemKind.CAPTURE:
        return item.amount_minor
    return max(item.net_minor, 0)


# The items settled only once their payment's capture moved money at the acquirer.
_OF_A_PAYMENT = frozenset({ItemKind.CAPTURE, ItemKind.REFUND, ItemKind.DISPUTE})


def _unmoved(payment: Payment) -> bool:
    """Whether the acquirer has not (or not yet) made the payment's capture: refused
    and unresolved, or not confirmed. A reversed capture is out of the books for good:
    what remains of it (a dispute won before the reversal, docs/disputes.md) settles."""
    if payment.settlement_hold is not None:
        return True
    return payment.awaits_capture_confirmation and not payment.amount_reversed


class WaitingItems(Protocol):
    def waiting_items(
        self, *, merchant_id: UUID, currency: str, until: datetime, limit: int
    ) -> list[Item]: ...

    def due(self, *, until: datetime) -> list[tuple[UUID, str]]: ...


def _no_wait() -> None:
    """The caller waited for the read model already (`SettlementService.catch_up`)."""


class SettlementService:
    def __init__(
        self,
        store: EventStore,
        items: WaitingItems,
        *,
        rates: SettlementRates | None = None,
        settlement_currency: Callable[[UUID], str] | None = None,
        caught_up: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._claims = Claims(store)
        self._items = items
        # The waiting items are the settlements view's: it must have seen the captures
        # committed before the close (application/caught_up.py).
        self._caught_up = caught_up or (lambda: None)
        self._waits = Waits(store)
        # Both None: every settlement is paid in its items' currency.
        self._rates = rates
        self._settlement_currency = settlement_currency

    def catch_up(self) -> None:
        """Wait until the settlements view has applied what is committed now (raises
        `ReadModelBehind` if it stays behind): once for many closes, see `close`."""
        self._caught_up()

    def close(
        self,
        *,
        merchant_id: UUID,
        currency: str,
        until: datetime,
        meta: Meta,
        caught_up: bool = False,
        idempotency_key: str | None = None,
        request_hash: str = "",
    ) -> Closing:
        """Close the settlement of `merchant_id` in `currency` at cut-off `until`.

        Idempotent: the settlement's id derives from the cut-off, so a retry (or a
        concurrent run) finds the same settlement instead of making another.
        `caught_up`: the caller called `catch_up` just before, for a run of closes (the
        schedule's): each close would otherwise wait for the last one's settlement.

        A keyed request (an operator's, among operators' keys: docs/api.md) is answered
        once: its claim points at the settlement as the close left it, or found it, and a
        replay answers that again, with the first answer's status, though the settlement
        was paid out since; the same key with another body is `idempotency_key_reused`.
        """

        wait = _no_wait if caught_up else once(self._caught_up)

        def found(existing: Settlement) -> Outcome[Settlement]:
            """A settlement closed before this request: the key now names this answer."""
            record = self._record(existing, idempotency_key, _FOUND, request_hash, meta)
            if record is not None:
                self._store.save(record)
            return Outcome(existing, replayed=True)

        def attempt() -> Outcome[Settlement]:
            existing = self._store.get(settlement_id(merchant_id, currency, until), Settlement)
            # Saved open only while it waits for a rate: then this close resumes it.
            if existing is not None and existing.status is not SettlementStatus.OPEN:
                return found(existing)
            wait()  # a replay above needs no read model
            settlement = existing or Settlement.open(
                merchant_id=merchant_id, currency=currency, cutoff=until, meta=meta
            )
            rate = self._conversion_rate(settlement, meta)
            items, claims = self._claim(
                merchant_id, currency, until, settlement.id, meta, rate=rate
            )
            if not any(item.kind not in CARRIED_IN_KINDS for item in items):
                # A concurrent run of this very request may have claimed them meanwhile.
                existing = self._store.get(settlement.id, Settlement)
                if existing is not None:
                    return found(existing)
                raise NothingToSettle("no captures or refunds wait for settlement up to then")
            if rate is not None:
                self._check_conversion(settlement, rate, items, meta)
            settlement.close(items, meta)
            if rate is not None and settlement.status is SettlementStatus.CLOSED:
                settlement.convert(rate, meta)  # a carried-forward debit stays as it is
            # Earlier settlements still waiting for a rate end here, in the same save.
            self._store.save(
                settlement,
                *claims,
                *self._waits.closing(settlement, meta),
                self._record(settlement, idempotency_key, _CLOSED, request_hash, meta),
            )
            return Outcome(settlement)

        outcome = self._claims.run(
            merchant_id=merchant_id,
            key=idempotency_key,
            request_hash=request_hash,
            kind=Settlement,
            attempt=attempt,
            scope=OPERATOR_KEYS,
        )
        closed = not outcome.replayed or (
            idempotency_key is not None
            and self._claims.recorded(
                merchant_id=merchant_id, key=idempotency_key, operation=_CLOSED, scope=OPERATOR_KEYS
            )
        )
        return Closing(outcome.value, outcome.replayed, closed)

    @staticmethod
    def _record(
        settlement: Settlement, key: str | None, operation: str, request_hash: str, meta: Meta
    ) -> IdempotencyRecord | None:
        """The claim of a keyed close, pointing at `settlement` as it answered it."""
        if key is None:
            return None
        return IdempotencyRecord.record(
            merchant_id=settlement.merchant_id,
            key=key,
            operation=operation,
            request_hash=request_hash,
            target=settlement,
            meta=meta,
            scope=OPERATOR_KEYS,
        )

    def _conversion_rate(self, settlement: Settlement, meta: Meta) -> Rate | None:
        """The rate converting `settlement` into the merchant's settlement currency at
        its cut-off; None when no conversion is needed. No rate: the settlement is
        saved waiting, with why, and `RateUnavailable` raised."""
        if self._rates is None or self._settlement_currency is None:
            return None
        target = self._settlement_currency(settlement.merchant_id)
        if target == settlement.currency:
            return None
        rate = self._rates.at(settlement.currency, target, settlement.cutoff)
        if rate is not None:
            return rate
        self._check_waiting(settlement)
        pair = f"{settlement.currency}/{target}"
        reason = (
            f"no {pair} rate valid at {settlement.cutoff.isoformat()}: the merchant settles in "
            f"{target}; load one with `paysource rates load`"
        )
        raise self._waiting(settlement, pair, reason, meta)

    def _check_conversion(
        self, settlement: Settlement, rate: Rate, items: list[Item], meta: Meta
    ) -> None:
        """A rate that converts the claimed items beyond the largest payout (one huge
        capture, or a won dispute above the captures) is no usable rate: the settlement
        waits as without one, rather than record a conversion nothing could apply."""
        net = sum(item.net_minor for item in items)
        if net <= 0:
            return  # carried forward in its own currency, unconverted
        try:
            conversion(rate, [item.net_minor for item in items], net)
        except ConversionOutOfRange as refused:
            reason = f"{refused.detail}; load a rate that converts it with `paysource rates load`"
            raise self._waiting(settlement, rate.pair, reason, meta) from None

    def _waiting(
        self, settlement: Settlement, pair: str, reason: str, meta: Meta
    ) -> RateUnavailable:
        """Save `settlement` open, waiting for a rate of `pair`, with why (claiming
        nothing); the error to raise."""
        settlement.await_rate(pair=pair, reason=reason, meta=meta)
        if settlement.pending_events:
            self._store.save(settlement, *self._waits.waiting(settlement, meta))
        return RateUnavailable(reason, settlement=settlement.id, pair=pair)

    def _check_waiting(self, settlement: Settlement) -> None:
        """Only a settlement with something to settle waits for a rate."""
        waiting = self._items.waiting_items(
            merchant_id=settlement.merchant_id,
            currency=settlement.currency,
            until=settlement.cutoff,
            limit=MAX_ITEMS_PER_SETTLEMENT,
        )
        if not any(item.kind not in CARRIED_IN_KINDS for item in waiting):
            raise NothingToSettle("no captures or refunds wait for settlement up to then")

    def _claim(
        self,
        merchant_id: UUID,
        currency: str,
        until: datetime,
        settlement: UUID,
        meta: Meta,
        *,
        rate: Rate | None,
    ) -> tuple[list[Item], list[ItemClaim]]:
        """The waiting items this settlement can claim, and their claims.

        The read model nominates; the claims decide: an item another settlement holds
        (the read model lagging) is left out, and a concurrent claim conflicts on save.
        Items are claimed in the read model's order while their credits (captures' gross,
        won disputes' amount and fee), converted at `rate` if any, stay an amount; from
        the first past it, the rest waits for the next settlement.
        """
        items: list[Item] = []
        claims: list[ItemClaim] = []
        credited = 0
        waiting = self._items.waiting_items(
            merchant_id=merchant_id, currency=currency, until=until, limit=MAX_ITEMS_PER_SETTLEMENT
        )
        held = self._held_items(waiting)
        for item in waiting:
            if item.claim_id in held:
                continue  # the acquirer has not (or not yet) moved it: docs/settlement.md
            claim = self._store.get(item.claim_id, ItemClaim)
            if claim is not None and claim.settlement_id is not None:
                continue  # another settlement (or a reversal) holds it
            credit = _credit_minor(item)
            if credit:
                credited += credit
                if items and not _payable(credited, rate):
                    break  # the rest waits for the next settlement: a payout stays Money
            if claim is None:
                claim = ItemClaim.first_claim(item, settlement, meta)
            else:
                claim.claim(settlement, meta)
            items.append(item)
            claims.append(claim)
        return items, claims

    def _held_items(self, items: list[Item]) -> set[UUID]:
        """The claim ids of the captures, refunds and disputes' items (the debit and the
        return) whose payment's money the acquirer has not moved: on a settlement hold,
        or its capture not yet confirmed (and not reversed). Asked of the event store,
        not of the read model, which may not have seen a refusal yet: one query, and one
        more for the payments of won disputes, whose items do not name them."""
        won = self._store.get_many(i.ref_id for i in items if i.kind is ItemKind.DISPUTE_WON)
        payment_of: dict[UUID, UUID] = {}
        for item in items:
            if item.kind in _OF_A_PAYMENT and item.payment_id is not None:
                payment_of[item.claim_id] = item.payment_id
            elif item.kind is ItemKind.DISPUTE_WON and isinstance(
                dispute := won.get(item.ref_id), Dispute
            ):
                payment_of[item.claim_id] = dispute.payment_id
        found = self._store.get_many(payment_of.values())
        held = {
            payment_id
            for payment_id, payment in found.items()
            if isinstance(payment, Payment) and _unmoved(payment)
        }
        return {claim for claim, payment_id in payment_of.items() if payment_id in held}

    def get(self, *, merchant_id: UUID | None, settlement: UUID) -> Settlement:
        found = self._store.get(settlement, Settlement)
        if found is None or merchant_id not in (None, found.merchant_id):
            raise NotFound("no such settlement")
        return found
