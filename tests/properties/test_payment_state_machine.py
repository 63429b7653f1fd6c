"""Random sequences of payment and refund commands never break the money invariants.

Illegal commands may be refused (a `DomainError`), but then exactly the illegal ones
are refused, a refused command records nothing and changes nothing, the amounts always
add up, the status only moves along the edges of the payment's state diagram, and the
events recorded so far, stored and read back through an eventsourcing application (so
through its JSON transcoder), rebuild exactly the state held in memory.

Run with `--hypothesis-show-statistics` to see how often each command is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.card import CardDetails
from paysource.domain.errors import DomainError, InvalidAmount
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.money import Money
from paysource.domain.payment import (
    FINAL_STATUSES,
    MAX_PAYMENT_MINOR,
    CaptureMethod,
    Payment,
    PaymentStatus,
)
from paysource.domain.refund import Refund, RefundStatus
from paysource.domain.risk import RiskAssessment, RiskOutcome

S = PaymentStatus
LEGAL_EDGES = {
    (S.PROCESSING, S.REQUIRES_CAPTURE),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.CANCELED),
    (S.REQUIRES_CAPTURE, S.SUCCEEDED),
    (S.REQUIRES_CAPTURE, S.CANCELED),
}
CURRENCIES = ("USD", "JPY", "KWD")
T0 = datetime(2025, 1, 1, tzinfo=UTC)
HOLD_TTL = timedelta(days=7)
# Either side of the hold's time to live, or some hours.
HOURS = st.integers(0, 200).map(lambda hours: timedelta(hours=hours))
ELAPSED = st.sampled_from([HOLD_TTL, HOLD_TTL - timedelta(microseconds=1)]) | HOURS
CARD = CardDetails("tok_visa", "visa", "424242", "4242")
NORMAL = RiskAssessment(RiskOutcome.NORMAL, 0)
ASSESSMENTS = (
    NORMAL,
    RiskAssessment(RiskOutcome.NORMAL, 20),
    RiskAssessment(RiskOutcome.ELEVATED, 50, ("amount_high",)),
    RiskAssessment(RiskOutcome.BLOCKED, 100, ("card_bin_blocked",)),
)
# Mostly valid amounts, small enough for partial captures and refunds to matter.
AMOUNTS = st.integers(1, 2_000) | st.integers(0, MAX_PAYMENT_MINOR + 1)
# Skewed towards the legal path, so that most runs reach captures and refunds.
USUALLY = st.sampled_from([True, True, True, False])
RARELY = USUALLY.map(lambda value: not value)


def state(aggregate: PaysourceAggregate) -> dict[str, Any]:
    return {name: value for name, value in vars(aggregate).items() if name != "_pending_events"}


def amount_or_none(ceiling: int) -> st.SearchStrategy[int | None]:
    """None (all that remains), an amount that may fit, or one that may be too large."""
    return st.none() | st.integers(1, ceiling) | st.integers(0, 2 * ceiling)


class PaymentCommands(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.now = T0
        self.payment: Payment | None = None
        self.refunds: dict[UUID, Refund] = {}
        self.fees = FeeSchedule()

    # The harness -----------------------------------------------------------------------

    @property
    def meta(self) -> Meta:
        return Meta(ActorKind.MERCHANT, "m-1", request_id=f"req-{self.now:%Y%m%d%H%M}", at=self.now)

    @property
    def live(self) -> Payment:
        assert self.payment is not None  # created by the `create` initialize rule
        return self.payment

    def aggregates(self) -> list[PaysourceAggregate]:
        return [self.live, *self.refunds.values()]

    def attempt(self, name: str, command: Callable[[], object]) -> bool:
        """Run a command: if refused, check it left no trace; if not, store its events."""
        before = [state(aggregate) for aggregate in self.aggregates()]
        status_before = self.live.status
        refund_statuses = {i: refund.status for i, refund in self.refunds.items()}
        try:
            command()
        except DomainError:
            assert [state(aggregate) for aggregate in self.aggregates()] == before
            assert all(not aggregate.pending_events for aggregate in self.aggregates())
            event(f"{name}: refused")
            return False
        status_after = self.live.status
        assert status_after == status_before or (status_before, status_after) in LEGAL_EDGES
        for refund_id, refund_status in refund_statuses.items():
            now_status = self.refunds[refund_id].status
            assert now_status == refund_status or refund_status is RefundStatus.PENDING
        event(f"{name}: {status_before} -> {status_after}")
        self.store()
        return True

    def store(self) -> None:
        events = [new for aggregate in self.aggregates() for new in aggregate.collect_events()]
        assert events
        for recorded in events:
            assert recorded.timestamp == self.now
            assert recorded.meta == self.meta.as_event_meta()  # type: ignore[attr-defined]
        self.app.save(*events)

    def money(self, amount_minor: int, *, other_currency: bool) -> Money:
        currency = self.live.currency
        if other_currency:
            currency = next(code for code in CURRENCIES if code != currency)
        return Money(amount_minor, currency)

    def new_payment(
        self, amount_minor: int, currency: str, capture_method: CaptureMethod
    ) -> Payment:
        return Payment.create(
            payment_id=uuid4(),
            merchant_id=uuid4(),
            customer_id=None,
            amount=Money(amount_minor, currency),
            capture_method=capture_method,
            card=CARD,
            description=None,
            metadata={},
            request_hash="h",
            meta=self.meta,
        )

    # Commands --------------------------------------------------------------------------

    @initialize(
        amount=AMOUNTS,
        currency=st.sampled_from(CURRENCIES),
        capture_method=st.sampled_from(CaptureMethod),
        head_start=st.sampled_from([0, 1, 2, 3, 3, 3]),  # half the runs start captured
        capture_half=st.booleans(),
    )
    def create(
        self,
        amount: int,
        currency: str,
        capture_method: CaptureMethod,
        head_start: int,
        capture_half: bool,
    ) -> None:
        """Create a payment (an amount out of bounds is refused), then take it 0 to 3 steps
        down the happy path, so runs start in every live status and reach refunds."""
        if not 1 <= amount <= MAX_PAYMENT_MINOR:
            with pytest.raises(InvalidAmount):
                self.new_payment(amount, currency, capture_method)
            amount = 1_000
        self.payment = self.new_payment(amount, currency, capture_method)
        self.store()
        payment, meta = self.live, self.meta
        captured = Money(max(amount // 2, 1), currency) if capture_half else None
        happy_path = [
            ("assess_risk", partial(payment.assess_risk, NORMAL, meta)),
            (
                "authorize",
                partial(
                    payment.authorize, authorization_code="A", acquirer_reference="r", meta=meta
                ),
            ),
            ("capture", partial(payment.capture, captured, self.fees, meta)),
        ]
        for name, step in happy_path[:head_start]:
            assert self.attempt(name, step)

    @rule(elapsed=ELAPSED)
    def time_passes(self, elapsed: timedelta) -> None:
        self.now += elapsed

    @rule(assessment=st.sampled_from(ASSESSMENTS))
    def assess_risk(self, assessment: RiskAssessment) -> None:
        legal = self.live.status is S.PROCESSING and self.live.risk is None
        accepted = self.attempt("assess_risk", lambda: self.live.assess_risk(assessment, self.meta))
        assert accepted == legal
        assert not accepted or (self.live.status is S.CANCELED) == assessment.blocked

    @rule(approves=USUALLY)
    def acquirer_answers(self, approves: bool) -> None:
        """The acquirer authorizes (legal once risk is assessed) or declines the payment."""
        if approves:
            legal = self.live.status is S.PROCESSING and self.live.risk is not None
            accepted = self.attempt(
                "authorize",
                lambda: self.live.authorize(
                    authorization_code="A", acquirer_reference="r", meta=self.meta
                ),
            )
        else:
            legal = self.live.status is S.PROCESSING
            accepted = self.attempt(
                "decline", lambda: self.live.decline(decline_code="d", message="m", meta=self.meta)
            )
        assert accepted == legal

    @rule(data=st.data(), other_currency=RARELY)
    def capture(self, data: st.DataObject, other_currency: bool) -> None:
        requested = data.draw(amount_or_none(self.live.amount_minor))
        amount = None if requested is None else self.money(requested, other_currency=other_currency)
        capturable = self.live.amount_capturable
        legal = self.live.status is S.REQUIRES_CAPTURE and (
            requested is None or (not other_currency and 1 <= requested <= capturable)
        )
        accepted = self.attempt("capture", lambda: self.live.capture(amount, self.fees, self.meta))
        assert accepted == legal
        if accepted:
            assert self.live.amount_captured == (capturable if requested is None else requested)

    @rule()
    def cancel(self) -> None:
        legal = self.live.status is S.REQUIRES_CAPTURE
        assert self.attempt("cancel", lambda: self.live.cancel(self.meta)) == legal

    @rule(elapsed=ELAPSED)
    def expire(self, elapsed: timedelta) -> None:
        """The expiry sweeper runs some time later (often a hold's lifetime later)."""
        self.now += elapsed
        authorized_at = self.live.authorized_at
        legal = (
            self.live.status is S.REQUIRES_CAPTURE
            and authorized_at is not None
            and self.now - authorized_at >= HOLD_TTL
        )
        accepted = self.attempt(
            "expire", lambda: self.live.expire(now=self.now, hold_ttl=HOLD_TTL, meta=self.meta)
        )
        assert accepted == legal

    @rule(data=st.data(), other_currency=RARELY)
    def open_refund(self, data: st.DataObject, other_currency: bool) -> None:
        requested = data.draw(amount_or_none(max(self.live.amount_captured, 1)))
        amount = None if requested is None else self.money(requested, other_currency=other_currency)
        refundable = self.live.amount_refundable
        legal = self.live.status is S.SUCCEEDED and (
            (requested is None and refundable > 0)
            or (requested is not None and not other_currency and 1 <= requested <= refundable)
        )
        refund_id = uuid4()

        def command() -> None:
            self.refunds[refund_id] = Refund.open(
                refund_id=refund_id,
                payment=self.live,
                amount=amount,
                reason=None,
                request_hash="h",
                meta=self.meta,
            )

        accepted = self.attempt("open_refund", command)
        assert accepted == legal
        assert not accepted or self.refunds[refund_id].amount_minor == (requested or refundable)

    @precondition(lambda self: self.refunds)
    @rule(data=st.data(), succeeds=st.booleans())
    def settle_refund(self, data: st.DataObject, succeeds: bool) -> None:
        """The acquirer answers for a refund: pending ones settle, the others refuse."""
        # Ids in creation order: the refund ids are random, so sorting them would make the
        # draw depend on something other than Hypothesis's choices.
        refund = self.refunds[data.draw(st.sampled_from(list(self.refunds)))]
        legal = refund.status is RefundStatus.PENDING
        if succeeds:
            accepted = self.attempt(
                "refund_succeeds",
                lambda: refund.succeed(self.live, acquirer_reference="r", meta=self.meta),
            )
        else:
            accepted = self.attempt(
                "refund_fails", lambda: refund.fail(self.live, failure_code="f", meta=self.meta)
            )
        assert accepted == legal

    # Invariants ------------------------------------------------------------------------

    @invariant()
    def amounts_add_up(self) -> None:
        p = self.live
        assert p.amount_refunded >= 0
        assert p.amount_refunded + p.amount_refund_pending <= p.amount_captured <= p.amount_minor
        assert 0 <= p.amount_capturable <= p.amount_minor
        assert (p.amount_capturable > 0) == (p.status is S.REQUIRES_CAPTURE)
        assert (p.amount_captured > 0) == (p.status is S.SUCCEEDED)
        assert 0 <= p.fee_minor <= p.amount_captured

    @invariant()
    def refunds_agree_with_the_payment(self) -> None:
        by_status = {
            status: {i: r.amount_minor for i, r in self.refunds.items() if r.status is status}
            for status in RefundStatus
        }
        assert self.live.pending_refunds == by_status[RefundStatus.PENDING]
        assert self.live.amount_refunded == sum(by_status[RefundStatus.SUCCEEDED].values())
        assert not self.refunds or self.live.status is S.SUCCEEDED

    @invariant()
    def final_is_final(self) -> None:
        assert self.live.is_final == (self.live.status in FINAL_STATUSES)

    @invariant()
    def stored_events_rebuild_the_state(self) -> None:
        for aggregate in self.aggregates():
            assert state(self.app.repository.get(aggregate.id)) == state(aggregate)


PaymentCommands.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_payment_commands = PaymentCommands.TestCase
