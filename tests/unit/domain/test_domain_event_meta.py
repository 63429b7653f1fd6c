"""Every event records who acted, on which request, and when (the command's `Meta`)."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from domain_builders import BLOCKED_RISK, MERCHANT_ID, NORMAL_RISK, T0, VISA, usd
from eventsourcing.application import Application

import paysource.domain
from paysource.domain.aggregate import PaysourceAggregate
from paysource.domain.api_key import ApiKey, Role
from paysource.domain.customer import Customer
from paysource.domain.dispute import Dispute, DisputeReason
from paysource.domain.fees import FeeSchedule
from paysource.domain.idempotency import IdempotencyRecord, key_digest
from paysource.domain.merchant import Merchant
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.payment import CaptureMethod, Payment
from paysource.domain.rates import Rate
from paysource.domain.reconciliation import (
    Clearing,
    Expected,
    ReconciliationImport,
    Source,
    StatementLine,
    match,
)
from paysource.domain.refund import Refund
from paysource.domain.settlement import Item, ItemClaim, ItemKind, Settlement
from paysource.domain.settlement_waits import SettlementWaits
from paysource.domain.webhook_endpoint import DeliveryResend, EndpointSlot, WebhookEndpoint

AT = T0 + timedelta(hours=1, microseconds=7)
META = Meta(
    ActorKind.FINANCE,
    "user-7",
    request_id="req-1",
    idempotency_key_hmac=key_digest("idem-1", b"secret"),
    traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    at=AT,
)
STORED_META = {
    "actor": "finance",
    "actor_id": "user-7",
    "request_id": "req-1",
    "idempotency_key_hmac": key_digest("idem-1", b"secret"),  # never the key itself
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
}


def payment() -> Payment:
    return Payment.create(
        payment_id=uuid4(),
        merchant_id=MERCHANT_ID,
        customer_id=None,
        amount=usd(10_000),
        capture_method=CaptureMethod.MANUAL,
        card=VISA,
        description=None,
        metadata={},
        request_hash="h",
        meta=META,
    )


def refund(of: Payment) -> Refund:
    return Refund.open(
        refund_id=uuid4(), payment=of, amount=usd(10), reason=None, request_hash="h", meta=META
    )


def profile_aggregates() -> list[PaysourceAggregate]:
    merchant = Merchant.register(
        merchant_id=MERCHANT_ID,
        name="Acme",
        email=None,
        settlement_currency="USD",
        fees=FeeSchedule(),
        request_hash="h",
        meta=META,
    )
    merchant.change_fees(FeeSchedule(100, {"USD": 0}), META)
    merchant.change_rate_limit(500, META)
    customer = Customer.create(
        customer_id=uuid4(),
        merchant_id=MERCHANT_ID,
        name="Ada",
        email=None,
        metadata={},
        request_hash="h",
        meta=META,
    )
    customer.update(name="Ada L.", email="ada@example.test", metadata={}, meta=META)
    customer.erase(META)
    key = ApiKey.issue(
        key_id=uuid4(), role=Role.ADMIN, merchant_id=None, key_digest="d", label="l", meta=META
    )
    key.revoke(META)
    return [merchant, customer, key]


def payment_aggregates() -> list[PaysourceAggregate]:
    captured = payment()
    captured.assess_risk(NORMAL_RISK, META)
    captured.authorize(authorization_code="A", acquirer_reference="r", meta=META)
    captured.capture(None, FeeSchedule(), META)
    captured.confirm_capture(capture_key="k", meta=META)
    settled, released = refund(captured), refund(captured)
    settled.succeed(captured, acquirer_reference="r", meta=META)
    released.fail(captured, failure_code="f", meta=META)
    captured.record_relay_failure(operation="capture", reason="refused", meta=META)
    reversed_ = payment()
    reversed_.assess_risk(NORMAL_RISK, META)
    reversed_.authorize(authorization_code="A", acquirer_reference="r", meta=META)
    reversed_.capture(None, FeeSchedule(), META)
    reversed_.record_relay_failure(operation="capture", reason="refused", meta=META)
    reversed_.record_relay_retry(succeeded=False, reason="ops", failure="lapsed", meta=META)
    reversed_.reverse_capture(reason="ops", settled_in=None, meta=META)
    declined = payment()
    declined.decline(decline_code="d", message="m", meta=META)
    blocked = payment()
    blocked.assess_risk(BLOCKED_RISK, META)
    record = IdempotencyRecord.record(
        merchant_id=MERCHANT_ID,
        key="k",
        operation="capture",
        request_hash="h",
        target=captured,
        meta=META,
    )
    return [captured, settled, released, reversed_, declined, blocked, record]


def settlement_aggregates() -> list[PaysourceAggregate]:
    items = [
        Item(ItemKind.CAPTURE, uuid4(), None, 1_000, 59),
        Item(ItemKind.REFUND, uuid4(), None, 200),
    ]
    paid = Settlement.open(merchant_id=MERCHANT_ID, currency="USD", cutoff=AT, meta=META)
    paid.close(items, META)
    paid.mark_paid(payout_reference="po_1", meta=META)
    failed = Settlement.open(
        merchant_id=MERCHANT_ID, currency="USD", cutoff=AT + timedelta(days=1), meta=META
    )
    failed.await_rate(pair="USD/EUR", reason="no USD/EUR rate yet", meta=META)
    failed.close(items, META)
    failed.convert(Rate("USD", "EUR", Decimal("0.92"), AT), META)
    failed.mark_failed(reason="account_closed", meta=META)
    carried = Settlement.open(
        merchant_id=MERCHANT_ID, currency="USD", cutoff=AT + timedelta(days=2), meta=META
    )
    carried.close([Item(ItemKind.REFUND, uuid4(), None, 500)], META)
    claim = ItemClaim.first_claim(items[0], paid.id, META)
    claim.release(paid.id, META)
    claim.claim(failed.id, META)
    superseded = Settlement.open(
        merchant_id=MERCHANT_ID, currency="USD", cutoff=AT - timedelta(days=1), meta=META
    )
    superseded.await_rate(pair="USD/EUR", reason="no USD/EUR rate yet", meta=META)
    superseded.supersede(paid, META)
    waits = SettlementWaits.start(merchant_id=MERCHANT_ID, currency="USD", meta=META)
    waits.wait(superseded.id, superseded.cutoff, META)
    waits.end([superseded.id], META)
    return [paid, failed, carried, claim, superseded, waits]


def endpoint_aggregates() -> list[PaysourceAggregate]:
    endpoint = WebhookEndpoint.register(
        endpoint_id=uuid4(),
        merchant_id=MERCHANT_ID,
        url="https://hooks.example.com/paysource",
        events=["*"],
        known_types=frozenset({"payment.succeeded"}),
        description=None,
        request_hash="h",
        meta=META,
    )
    endpoint.disable("failing for 3 days", META)
    endpoint.enable(META)
    endpoint.rotate_secret(META)
    endpoint.delete(META)
    slot = EndpointSlot.first_take(
        merchant_id=MERCHANT_ID, number=0, endpoint_id=endpoint.id, meta=META
    )
    slot.free(endpoint.id, META)
    slot.take(uuid4(), META)
    resend = DeliveryResend.answered(
        merchant_id=MERCHANT_ID,
        key="resend-k",  # "k" is the capture's claim above
        request_hash="h",
        endpoint_id=endpoint.id,
        delivery_id=uuid4(),
        delivery={"status": "failed", "attempts": 1},
        attempts=[{"trigger": "automatic", "succeeded": False}],
        meta=META,
    )
    return [endpoint, slot, resend]


def reconciliation_aggregates() -> list[PaysourceAggregate]:
    item = Expected("capture", uuid4(), MERCHANT_ID, "USD", 2500, T0.date())
    line = StatementLine("capture", item.key, "sim_1", "USD", 2500, 0, T0.date(), 2)
    matching = match([line], [item], cleared={}, days=frozenset([T0.date()]))
    record = ReconciliationImport.record(
        source=Source.ACQUIRER,
        digest="d",
        days=frozenset([T0.date()]),
        lines=1,
        matching=matching,
        meta=META,
    )
    clearing = Clearing.clear(
        matching.matched[0], source=Source.ACQUIRER, import_of=record.id, meta=META
    )
    return [record, clearing]


def dispute_aggregates() -> list[PaysourceAggregate]:
    won, lost = payment(), payment()
    opened = []
    for disputed in (won, lost):
        disputed.assess_risk(NORMAL_RISK, META)
        disputed.authorize(authorization_code="A", acquirer_reference="r", meta=META)
        disputed.capture(None, FeeSchedule(), META, confirmed=True)
        disputed.collect_events()  # the payments' events are recorded above
        opened.append(
            Dispute.open(
                payment=disputed,
                amount=None,
                reason=DisputeReason.FRAUDULENT,
                source="admin",
                request_hash="h",
                meta=META,
            )
        )
    opened[0].submit_evidence({"uncategorized_text": "delivered"}, META)
    opened[0].win(outcome_reason="acquirer_decision", meta=META)
    opened[0].erase_evidence(META)  # its customer was erased
    opened[1].lose(outcome_reason="acquirer_decision", meta=META)
    return opened


def declared_events(aggregate: type[PaysourceAggregate]) -> set[type[PaysourceAggregate.Event]]:
    """The events an aggregate class declares, without the `Event` base and the default
    `Created` that eventsourcing adds to every aggregate class."""
    events = {
        name: value
        for name, value in vars(aggregate).items()
        if isinstance(value, type) and issubclass(value, PaysourceAggregate.Event)
    }
    events.pop("Event", None)
    creators = [e for e in events.values() if issubclass(e, PaysourceAggregate.Created)]
    if len(creators) > 1:  # a named creation event (`Registered`) replaces the default
        events.pop("Created", None)
    return set(events.values())


def every_event_class() -> set[type[PaysourceAggregate.Event]]:
    """The event classes of every aggregate in the domain package, found by walking it."""
    for module in pkgutil.iter_modules(paysource.domain.__path__, "paysource.domain."):
        importlib.import_module(module.name)
    classes: set[type[PaysourceAggregate.Event]] = set()
    pending = list(PaysourceAggregate.__subclasses__())
    while pending:
        aggregate = pending.pop()
        pending.extend(aggregate.__subclasses__())
        classes |= declared_events(aggregate)
    return classes


@pytest.fixture(scope="module")
def recorded() -> list[PaysourceAggregate.Event]:
    aggregates = (
        profile_aggregates()
        + payment_aggregates()
        + settlement_aggregates()
        + endpoint_aggregates()
        + reconciliation_aggregates()
        + dispute_aggregates()
    )
    return [event for aggregate in aggregates for event in aggregate.collect_events()]  # type: ignore[misc]


def test_the_scenario_records_every_kind_of_event_in_the_domain(
    recorded: list[PaysourceAggregate.Event],
) -> None:
    declared = every_event_class()

    assert len(declared) >= 18  # the walk found the aggregates, so the check below means something
    assert declared <= {type(event) for event in recorded}


def test_every_event_carries_the_actor_request_key_and_trace_of_its_command(
    recorded: list[PaysourceAggregate.Event],
) -> None:
    assert recorded
    for event in recorded:
        assert event.meta == STORED_META, type(event).__name__


def test_every_event_is_stamped_with_the_time_of_its_command(
    recorded: list[PaysourceAggregate.Event],
) -> None:
    assert {event.timestamp for event in recorded} == {AT}


def test_meta_and_time_survive_storage_in_an_event_store(
    recorded: list[PaysourceAggregate.Event],
) -> None:
    app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.save(*recorded)

    for original in recorded:
        stored = list(app.events.get(original.originator_id))[original.originator_version - 1]
        assert (stored.meta, stored.timestamp) == (STORED_META, AT)  # type: ignore[attr-defined]


def test_stored_meta_leaves_out_what_the_command_did_not_have() -> None:
    meta = Meta(ActorKind.MERCHANT, "m-1", request_id="req-2")

    assert meta.as_event_meta() == {"actor": "merchant", "actor_id": "m-1", "request_id": "req-2"}


def test_a_system_actor_is_named_by_its_component_and_may_be_given_a_time() -> None:
    meta = Meta.system("hold-expirer", at=AT)

    assert (meta.actor, meta.actor_id, meta.at) == (ActorKind.SYSTEM, "hold-expirer", AT)
    assert meta.as_event_meta() == {"actor": "system", "actor_id": "hold-expirer"}


def test_meta_defaults_to_the_current_utc_time() -> None:
    meta = Meta(ActorKind.ADMIN)

    assert meta.at.utcoffset() == timedelta(0)
    assert abs(meta.at - Meta(ActorKind.ADMIN).at) < timedelta(seconds=5)


def test_a_naive_command_time_is_refused() -> None:
    from datetime import datetime  # noqa: PLC0415

    import pytest  # noqa: PLC0415

    from paysource.domain.meta import ActorKind, Meta  # noqa: PLC0415

    with pytest.raises(TypeError, match="timezone-aware"):
        Meta(ActorKind.SYSTEM, "clock", at=datetime(2025, 1, 1))
