"""A capture waits for the acquirer's confirmation before it may be settled; captures
recorded before confirmations existed (version-1 `Captured` events) do not wait."""

from __future__ import annotations

import json

import pytest
from domain_builders import authorized_payment, captured_payment, merchant_meta, replayed, state
from eventsourcing.application import Application, project_aggregate
from eventsourcing.persistence import StoredEvent

from paysource.domain.errors import IllegalTransition
from paysource.domain.payment import Payment


def test_a_capture_awaits_the_acquirers_confirmation_until_it_is_recorded() -> None:
    payment = captured_payment()
    assert payment.awaits_capture_confirmation

    payment.confirm_capture(capture_key=f"{payment.id}:capture", meta=merchant_meta())

    assert not payment.awaits_capture_confirmation
    assert payment.capture_confirmed_at == merchant_meta().at
    confirmed = payment.collect_events()[-1]
    assert isinstance(confirmed, Payment.CaptureConfirmed)
    assert (confirmed.acquirer_reference, confirmed.capture_key) == (
        "acq-1",
        f"{payment.id}:capture",
    )


def test_confirming_twice_records_one_confirmation() -> None:
    payment = captured_payment()
    payment.confirm_capture(capture_key="k", meta=merchant_meta())
    payment.confirm_capture(capture_key="k", meta=merchant_meta())

    confirmations = [e for e in payment.collect_events() if isinstance(e, Payment.CaptureConfirmed)]
    assert len(confirmations) == 1


def test_only_a_captured_payment_can_be_confirmed() -> None:
    with pytest.raises(IllegalTransition) as refusal:
        authorized_payment().confirm_capture(capture_key="k", meta=merchant_meta())
    assert refusal.value.code == "payment_not_captured"


def test_a_confirmed_capture_replays_to_the_same_state() -> None:
    payment = captured_payment()
    payment.confirm_capture(capture_key="k", meta=merchant_meta())

    assert state(replayed(payment)) == state(payment)


def test_a_version_1_captured_event_is_upcast_to_a_capture_needing_no_confirmation() -> None:
    app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    payment = captured_payment()
    stored = [app.mapper.to_stored_event(e) for e in payment.collect_events()]

    old_log = [as_version_1(s) if s.topic.endswith("Captured") else s for s in stored]
    events = [app.mapper.to_domain_event(s) for s in old_log]
    rebuilt = project_aggregate(None, events)

    captured = events[-1]
    assert isinstance(captured, Payment.Captured)
    assert not captured.confirmation_required
    assert isinstance(rebuilt, Payment)
    assert not rebuilt.awaits_capture_confirmation
    assert rebuilt.capture_confirmed_at is None


def as_version_1(stored: StoredEvent) -> StoredEvent:
    """The event as the code before confirmations wrote it: no field, no class version."""
    body = json.loads(stored.state)
    assert body.pop("class_version") == 2
    del body["confirmation_required"]
    return StoredEvent(
        stored.originator_id, stored.originator_version, stored.topic, json.dumps(body).encode()
    )
