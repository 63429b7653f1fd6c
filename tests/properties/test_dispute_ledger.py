"""Any sequence of payments, refunds, disputes, evidence and outcomes keeps the ledger
balanced, and the merchant's available balance equal to

    captures - fees - refunds - (amount + fee of every dispute not won)

(a dispute is taken when opened, whether it will be lost or is still open). The
events go through the ledger's posting rules exactly as the projection maps them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from paysource.domain import ledger
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.card import CardDetails
from paysource.domain.dispute import RESPONSE_WINDOW, Dispute, DisputeReason, DisputeStatus
from paysource.domain.errors import DomainError
from paysource.domain.fees import FeeSchedule
from paysource.domain.ledger import Entry, Phase, Side
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment
from paysource.domain.refund import Refund
from paysource.domain.risk import RiskAssessment, RiskOutcome

MERCHANT = uuid4()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CARD = CardDetails("tok_visa", "visa", "424242", "4242")


def entry_of(e: PaysourceAggregate.Event, payments: dict[UUID, Payment]) -> Entry | None:
    """The projection's mapping of an event to its entry (readmodels/ledger)."""
    if isinstance(e, Dispute.Opened):
        return ledger.dispute_opened(e.merchant_id, e.currency, e.amount_minor, e.fee_minor)
    if isinstance(e, Dispute.Won):
        return ledger.dispute_won(e.merchant_id, e.currency, e.amount_minor, e.fee_minor)
    payment = payments.get(e.originator_id)
    if payment is None:
        return None
    m, cur = payment.merchant_id, payment.currency
    if isinstance(e, Payment.Authorized):
        return ledger.authorization(m, cur, payment.amount_minor)
    if isinstance(e, Payment.Captured):
        return ledger.capture(
            m,
            cur,
            held_minor=payment.amount_minor,
            captured_minor=e.amount_minor,
            fee_minor=e.fee_minor,
        )
    rules = {
        Payment.RefundReserved: ledger.refund_reserved,
        Payment.RefundSettled: ledger.refund_settled,
        Payment.RefundReleased: ledger.refund_released,
    }
    rule_ = rules.get(type(e))
    return None if rule_ is None else rule_(m, cur, e.amount_minor)  # type: ignore[attr-defined]


class DisputeLedger(RuleBasedStateMachine):
    payments = Bundle("payments")
    disputes = Bundle("disputes")

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.known: dict[UUID, Payment] = {}
        self.all_disputes: list[Dispute] = []
        self.refunds: list[Refund] = []
        # account → [debits_pending, debits_posted, credits_pending, credits_posted]
        self.balances: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])

    @property
    def meta(self) -> Meta:
        return Meta(ActorKind.SYSTEM, "property", at=self.now)

    def post(self, *aggregates: PaysourceAggregate) -> None:
        for aggregate in aggregates:
            for e in aggregate.collect_events():
                posting = entry_of(e, self.known)
                for line in posting.lines if posting else ():
                    index = (0 if line.side is Side.DEBIT else 2) + (line.phase is Phase.POSTED)
                    sign = -1 if line.phase is Phase.RELEASE else 1
                    self.balances[line.account.name][index] += sign * line.amount_minor

    @rule(target=payments, amount=st.integers(1, 50_000), fee_bps=st.integers(0, 500))
    def captured_payment(self, amount: int, fee_bps: int) -> Payment:
        payment = Payment.create(
            payment_id=uuid4(),
            merchant_id=MERCHANT,
            customer_id=None,
            amount=Money(amount, "USD"),
            capture_method=CaptureMethod.AUTOMATIC,
            card=CARD,
            description=None,
            metadata={},
            request_hash="h",
            meta=self.meta,
        )
        self.known[payment.id] = payment
        payment.assess_risk(RiskAssessment(RiskOutcome.NORMAL, 0), self.meta)
        payment.authorize(authorization_code="A", acquirer_reference="r", meta=self.meta)
        payment.capture(None, FeeSchedule(fee_bps, {"USD": 30}), self.meta, confirmed=True)
        self.post(payment)
        return payment

    @rule(payment=payments, amount=st.integers(1, 50_000), succeeds=st.booleans())
    def refund(self, payment: Payment, amount: int, succeeds: bool) -> None:
        try:
            refund = Refund.open(
                refund_id=uuid4(),
                payment=payment,
                amount=Money(amount, "USD"),
                reason=None,
                request_hash="h",
                meta=self.meta,
            )
        except DomainError:
            event("refund refused")
            return
        self.post(payment, refund)
        if succeeds:
            refund.succeed(payment, acquirer_reference="r", meta=self.meta)
        else:
            refund.fail(payment, failure_code="f", meta=self.meta)
        self.post(payment, refund)

    @rule(target=disputes, payment=payments, amount=st.none() | st.integers(1, 50_000))
    def open_dispute(self, payment: Payment, amount: int | None) -> list[Dispute]:
        opened = [d for d in self.all_disputes if d.payment_id == payment.id]
        if opened:  # one dispute per payment: its id derives from the payment's
            return opened
        try:
            dispute = Dispute.open(
                payment=payment,
                amount=None if amount is None else Money(amount, "USD"),
                reason=DisputeReason.GENERAL,
                source="admin",
                request_hash="h",
                meta=self.meta,
            )
        except DomainError:
            event("dispute refused")
            return []
        self.all_disputes.append(dispute)
        self.post(dispute)
        return [dispute]

    def on(self, disputes: list[Dispute], command: str, **fields: object) -> None:
        for dispute in disputes:
            try:
                getattr(dispute, command)(**fields)
            except DomainError:
                event(f"{command} refused")
                continue
            self.post(dispute)

    @rule(disputes=disputes)
    def evidence(self, disputes: list[Dispute]) -> None:
        self.on(disputes, "submit_evidence", evidence={"uncategorized_text": "x"}, meta=self.meta)

    @rule(disputes=disputes, won=st.booleans())
    def decide(self, disputes: list[Dispute], won: bool) -> None:
        self.on(disputes, "win" if won else "lose", outcome_reason="acquirer", meta=self.meta)

    @rule(disputes=disputes, days=st.integers(0, 10))
    def expire(self, disputes: list[Dispute], days: int) -> None:
        self.now += timedelta(days=days)
        self.on(disputes, "expire", meta=self.meta)

    @invariant()
    def every_side_balances_across_the_ledger(self) -> None:
        accounts = self.balances.values()
        for debit, credit in ((0, 2), (1, 3)):  # pending, then posted
            assert sum(v[debit] for v in accounts) == sum(v[credit] for v in accounts)
        assert all(amount >= 0 for v in accounts for amount in v)

    @invariant()
    def available_is_captures_less_fees_refunds_and_disputes_not_won(self) -> None:
        payments = self.known.values()
        taken = sum(
            d.amount_minor + d.fee_minor
            for d in self.all_disputes
            if d.status is not DisputeStatus.WON
        )
        expected = sum(p.amount_captured - p.fee_minor - p.amount_refunded for p in payments)
        balance = self.balances[ledger.Account.balance(MERCHANT).name]
        assert balance[3] - balance[1] == expected - taken
        assert all(d.due_by == d.created_on + RESPONSE_WINDOW for d in self.all_disputes)


DisputeLedger.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestDisputeLedger = DisputeLedger.TestCase
