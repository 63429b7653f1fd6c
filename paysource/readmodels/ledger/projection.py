"""The `ledger` read model's writer: journal entries, their postings, account balances."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from paysource.application.eventlog import Event
from paysource.application.topics import handled_topics
from paysource.domain import ledger
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.dispute import Dispute
from paysource.domain.ledger import Entry, Phase, Side
from paysource.domain.payment import Payment
from paysource.domain.reconciliation import Clearing
from paysource.domain.settlement import Settlement
from paysource.readmodels.ledger.schema import ACCOUNTS, ENTRIES, PAYMENTS, POSTINGS
from paysource.readmodels.rows import Rows, copy_rows
from paysource.readmodels.view import View, changed_ids

# Entry ids derive from the event, so a rebuild writes exactly the same rows.
_ENTRY_NAMESPACE = UUID("0d9b2a3e-58a4-4f7c-9a6e-1c2f3b4d5e6f")


def entry_id(event: Event) -> UUID:
    return uuid5(_ENTRY_NAMESPACE, f"{event.originator_id}:{event.originator_version}")


class LedgerView(View):
    name: ClassVar[str] = "ledger"
    tables = (PAYMENTS.name, ACCOUNTS.name, ENTRIES.name, POSTINGS.name)

    def begin_batch(self) -> None:
        self.payments = Rows(PAYMENTS)
        self._entries: list[tuple[Any, ...]] = []
        self._postings: list[tuple[Any, ...]] = []
        self._accounts: dict[tuple[str, str], dict[str, Any]] = {}
        self._deltas: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])

    def prefetch(self, events: Sequence[Event]) -> None:
        self.payments.load(self.cursor, changed_ids(events, Payment.Event, Payment.Created))

    def record(
        self,
        event: PaysourceAggregate.Event,
        posting: Entry | None,
        *,
        merchant_id: UUID,
        refund_id: UUID | None = None,
    ) -> None:
        # `payment_id` of an entry is its event's originator: a payment, or a settlement.
        """Buffer `posting` (if any) as the entry caused by `event`."""
        if posting is None:
            return
        number = entry_id(event)
        self._entries.append(
            (
                number,
                posting.kind,
                merchant_id,
                event.originator_id,
                refund_id,
                event.timestamp,
                f"{event.originator_id}:{event.originator_version}",
            )
        )
        for line_number, line in enumerate(posting.lines, start=1):
            account, currency = line.account.name, line.currency_in(posting)
            self._postings.append(
                (
                    number,
                    line_number,
                    account,
                    currency,
                    str(line.side),
                    str(line.phase),
                    line.amount_minor,
                    event.timestamp,
                )
            )
            key = (account, currency)
            self._accounts[key] = {
                "kind": str(line.account.kind),
                "merchant": line.account.merchant_id,
            }
            self._deltas[key][_field_index(line.side, line.phase)] += _signed(line)

    def flush(self) -> None:
        self.payments.flush(self.cursor)
        # One statement each, so the balance trigger sees every entry whole.
        copy_rows(self.cursor, ENTRIES.name, ENTRIES.columns, self._entries)
        copy_rows(self.cursor, POSTINGS.name, POSTINGS.columns, self._postings)
        accounts = sorted(self._accounts.items())
        # Create missing accounts at zero first: Postgres checks a proposed INSERT row's
        # CHECK constraints before ON CONFLICT, and a delta may well be negative.
        self.cursor.executemany(
            "INSERT INTO ledger_accounts (account, currency, kind, merchant_id)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (account, currency) DO NOTHING",
            [(account, currency, m["kind"], m["merchant"]) for (account, currency), m in accounts],
        )
        self.cursor.executemany(
            "UPDATE ledger_accounts SET debits_pending = debits_pending + %s,"
            " debits_posted = debits_posted + %s, credits_pending = credits_pending + %s,"
            " credits_posted = credits_posted + %s WHERE account = %s AND currency = %s",
            [(*self._deltas[key], *key) for key, _ in accounts],
        )


def _field_index(side: Side, phase: Phase) -> int:
    base = 0 if side is Side.DEBIT else 2
    return base + (0 if phase in (Phase.PENDING, Phase.RELEASE) else 1)


def _signed(line: ledger.Line) -> int:
    return -line.amount_minor if line.phase is Phase.RELEASE else line.amount_minor


class LedgerProjection(Projection[LedgerView]):
    name = "ledger"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events that move no money."""

    @process_event.register
    def _created(self, e: Payment.Created, _: Tracking) -> None:
        self.view.payments.add(
            {
                "id": e.originator_id,
                "merchant_id": e.merchant_id,
                "currency": e.currency,
                "amount_minor": e.amount_minor,
            }
        )

    def _payment(self, e: Payment.Event) -> tuple[UUID, str, int]:
        row = self.view.payments.get(e.originator_id)
        return row["merchant_id"], row["currency"], row["amount_minor"]

    @process_event.register
    def _authorized(self, e: Payment.Authorized, _: Tracking) -> None:
        merchant, currency, amount = self._payment(e)
        self.view.record(e, ledger.authorization(merchant, currency, amount), merchant_id=merchant)

    @process_event.register
    def _captured(self, e: Payment.Captured, _: Tracking) -> None:
        merchant, currency, amount = self._payment(e)
        posting = ledger.capture(
            merchant,
            currency,
            held_minor=amount,
            captured_minor=e.amount_minor,
            fee_minor=e.fee_minor,
        )
        self.view.record(e, posting, merchant_id=merchant)

    @process_event.register
    def _canceled(self, e: Payment.Canceled, _: Tracking) -> None:
        merchant, currency, _amount = self._payment(e)
        kind = "expiry" if e.reason == "expired" else "void"
        self.view.record(
            e, ledger.void(merchant, currency, e.released_minor, kind=kind), merchant_id=merchant
        )

    @process_event.register
    def _capture_reversed(self, e: Payment.CaptureReversed, _: Tracking) -> None:
        merchant, currency, _amount = self._payment(e)
        posting = ledger.capture_reversed(
            merchant, currency, captured_minor=e.amount_minor, fee_minor=e.fee_minor
        )
        self.view.record(e, posting, merchant_id=merchant)

    @process_event.register
    def _refund_reserved(self, e: Payment.RefundReserved, _: Tracking) -> None:
        merchant, currency, _amount = self._payment(e)
        posting = ledger.refund_reserved(merchant, currency, e.amount_minor)
        self.view.record(e, posting, merchant_id=merchant, refund_id=e.refund_id)

    @process_event.register
    def _refund_settled(self, e: Payment.RefundSettled, _: Tracking) -> None:
        merchant, currency, _amount = self._payment(e)
        posting = ledger.refund_settled(merchant, currency, e.amount_minor)
        self.view.record(e, posting, merchant_id=merchant, refund_id=e.refund_id)

    @process_event.register
    def _refund_released(self, e: Payment.RefundReleased, _: Tracking) -> None:
        merchant, currency, _amount = self._payment(e)
        posting = ledger.refund_released(merchant, currency, e.amount_minor)
        self.view.record(e, posting, merchant_id=merchant, refund_id=e.refund_id)

    @process_event.register
    def _settlement_closed(self, e: Settlement.Closed, _: Tracking) -> None:
        if e.net_minor > 0:  # a net of zero or less is carried forward, not paid out
            posting = ledger.payout_pending(e.merchant_id, e.currency, e.net_minor)
            self.view.record(e, posting, merchant_id=e.merchant_id)

    @process_event.register
    def _settlement_paid(self, e: Settlement.Paid, _: Tracking) -> None:
        posting = ledger.payout_paid(e.merchant_id, e.currency, e.amount_minor)
        self.view.record(e, posting, merchant_id=e.merchant_id)

    @process_event.register
    def _settlement_failed(self, e: Settlement.Failed, _: Tracking) -> None:
        posting = ledger.payout_failed(e.merchant_id, e.currency, e.amount_minor)
        self.view.record(e, posting, merchant_id=e.merchant_id)

    @process_event.register
    def _settlement_converted(self, e: Settlement.Converted, _: Tracking) -> None:
        posting = ledger.fx_converted(
            e.merchant_id,
            e.currency,
            e.payout_currency,
            net_minor=e.net_minor,
            items_minor=e.items_minor,
            payout_minor=e.payout_minor,
        )
        self.view.record(e, posting, merchant_id=e.merchant_id)

    @process_event.register
    def _conversion_reversed(self, e: Settlement.ConversionReversed, _: Tracking) -> None:
        posting = ledger.fx_reversed(
            e.merchant_id,
            e.currency,
            e.payout_currency,
            net_minor=e.net_minor,
            items_minor=e.items_minor,
            payout_minor=e.payout_minor,
        )
        self.view.record(e, posting, merchant_id=e.merchant_id)

    @process_event.register
    def _cleared(self, e: Clearing.Cleared, _: Tracking) -> None:
        posting = ledger.cleared(e.kind, e.merchant_id, e.currency, e.gross_minor, e.fee_minor)
        self.view.record(e, posting, merchant_id=e.merchant_id)

    # Disputes: taken at once when opened, given back when won; a loss moves nothing more.
    @process_event.register
    def _dispute_opened(self, e: Dispute.Opened, _: Tracking) -> None:
        posting = ledger.dispute_opened(e.merchant_id, e.currency, e.amount_minor, e.fee_minor)
        self.view.record(e, posting, merchant_id=e.merchant_id)

    @process_event.register
    def _dispute_won(self, e: Dispute.Won, _: Tracking) -> None:
        posting = ledger.dispute_won(e.merchant_id, e.currency, e.amount_minor, e.fee_minor)
        self.view.record(e, posting, merchant_id=e.merchant_id)

    # Last: follows exactly the events handled above.
    topics = handled_topics(process_event)
