"""A chargeback is of money the acquirer moved: a capture it has not confirmed yet (and
may still refuse) cannot be disputed. An operator asking is refused with
`payment_capture_unconfirmed`; the acquirer's notice is asked for once the capture is
confirmed, and never for a capture refused and then reversed, which ends with nothing
taken from the merchant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID, uuid4

import pytest

from paysource.adapters.clock import ManualClock
from paysource.application.disputes import (
    SOURCE_ACQUIRER,
    SOURCE_ADMIN,
    DisputeNotice,
    DisputeService,
)
from paysource.application.eventlog import EventStore, Follower, Wakeup, run_until_caught_up
from paysource.application.relay_resolution import RelayResolutionService, Resolution
from paysource.domain.card import CardDetails
from paysource.domain.dispute import Dispute, DisputeReason, dispute_id
from paysource.domain.errors import IllegalTransition
from paysource.domain.fees import FeeSchedule
from paysource.domain.meta import Meta
from paysource.domain.money import Money
from paysource.domain.payment import CaptureMethod, Payment, RelayAction
from paysource.domain.risk import RiskAssessment, RiskOutcome
from paysource.processes.disputes import DisputeNoticeProcessor
from tests.unit.application.conftest import merchant_meta

CARD = CardDetails(token="tok_disputed", brand="visa", bin="424242", last4="4242")
OPS = Meta.system("ops")


class EveryPaymentDisputed:
    """An acquirer whose cardholders dispute every payment asked about."""

    def __init__(self) -> None:
        self.asked: list[UUID] = []

    def dispute_notices(self, *, payment_ids: Sequence[UUID]) -> Mapping[UUID, DisputeNotice]:
        self.asked.extend(payment_ids)
        return {i: DisputeNotice(DisputeReason.FRAUDULENT) for i in payment_ids}


@pytest.fixture
def acquirer() -> EveryPaymentDisputed:
    return EveryPaymentDisputed()


@pytest.fixture
def notices(
    store: EventStore, acquirer: EveryPaymentDisputed, clock: ManualClock
) -> DisputeNoticeProcessor:
    return DisputeNoticeProcessor(store, acquirer, clock)


def captured(store: EventStore, *, confirmed: bool) -> Payment:
    """A manual capture of 10,000 USD cents, as the merchant records it (unconfirmed)
    or as an automatic one is, confirmed by the acquirer as it is recorded."""
    merchant_id = uuid4()
    meta = merchant_meta(merchant_id)
    payment = Payment.create(
        payment_id=uuid4(),
        merchant_id=merchant_id,
        customer_id=None,
        amount=Money(10_000, "USD"),
        capture_method=CaptureMethod.MANUAL,
        card=CARD,
        description=None,
        metadata={},
        request_hash="h",
        meta=meta,
    )
    payment.assess_risk(RiskAssessment(RiskOutcome.NORMAL, 0), meta)
    payment.authorize(authorization_code="A1", acquirer_reference="acq-1", meta=meta)
    payment.capture(None, FeeSchedule(), meta, confirmed=confirmed)
    store.save(payment)
    return payment


def change(store: EventStore, payment_id: UUID, command: str, **fields: object) -> None:
    payment = store.get(payment_id, Payment)
    assert payment is not None
    getattr(payment, command)(**fields, meta=OPS)
    store.save(payment)


def follow(store: EventStore, notices: DisputeNoticeProcessor) -> None:
    run_until_caught_up(Follower(store, notices, wakeup=Wakeup()), timeout_s=5)


def open_by_operator(store: EventStore, payment_id: UUID) -> Dispute:
    outcome = DisputeService(store).open_dispute(
        payment_id=payment_id,
        amount=None,
        reason=DisputeReason.GENERAL,
        source=SOURCE_ADMIN,
        idempotency_key=None,
        request_hash="h",
        meta=OPS,
    )
    return outcome.value


def test_an_operator_cannot_dispute_a_capture_the_acquirer_has_not_confirmed(
    store: EventStore,
) -> None:
    payment = captured(store, confirmed=False)

    with pytest.raises(IllegalTransition) as refused:
        open_by_operator(store, payment.id)

    assert refused.value.code == "payment_capture_unconfirmed"
    assert store.get(dispute_id(payment.id), Dispute) is None
    change(store, payment.id, "confirm_capture", capture_key=f"{payment.id}:capture")
    assert open_by_operator(store, payment.id).amount_minor == 10_000


def test_the_notice_of_an_unconfirmed_capture_opens_its_dispute_once_it_is_confirmed(
    store: EventStore, notices: DisputeNoticeProcessor, acquirer: EveryPaymentDisputed
) -> None:
    payment = captured(store, confirmed=False)
    follow(store, notices)
    assert store.get(dispute_id(payment.id), Dispute) is None
    assert acquirer.asked == []  # not asked before the money moved

    change(store, payment.id, "confirm_capture", capture_key=f"{payment.id}:capture")
    follow(store, notices)

    dispute = store.get(dispute_id(payment.id), Dispute)
    assert dispute is not None
    assert (dispute.source, dispute.amount_minor) == (SOURCE_ACQUIRER, 10_000)
    assert acquirer.asked == [payment.id]


def test_a_capture_confirmed_as_it_was_recorded_is_asked_about_at_once(
    store: EventStore, notices: DisputeNoticeProcessor, acquirer: EveryPaymentDisputed
) -> None:
    payment = captured(store, confirmed=True)
    follow(store, notices)

    assert store.get(dispute_id(payment.id), Dispute) is not None
    assert acquirer.asked == [payment.id]


def test_a_refused_capture_is_never_disputed_and_its_reversal_takes_nothing_twice(
    store: EventStore, notices: DisputeNoticeProcessor
) -> None:
    payment = captured(store, confirmed=False)
    follow(store, notices)
    change(store, payment.id, "record_relay_failure", operation="capture", reason="lapsed")
    follow(store, notices)
    with pytest.raises(IllegalTransition) as refused:
        open_by_operator(store, payment.id)
    assert refused.value.code == "payment_capture_refused"

    resolution = Resolution(payment.id, RelayAction.REVERSE, "OPS-1: the hold had lapsed")
    RelayResolutionService(store, None).resolve(  # type: ignore[arg-type]
        resolution, idempotency_key=None, request_hash="h", meta=OPS
    )

    # The capture left the books; no dispute took its amount and fee as well.
    after = store.get(payment.id, Payment)
    assert after is not None
    assert (after.amount_reversed, after.settlement_hold) == (10_000, None)
    assert store.get(dispute_id(payment.id), Dispute) is None
