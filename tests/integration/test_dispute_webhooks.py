"""A dispute's webhooks: created, evidence submitted, won (or lost), each signed and
carrying the dispute as that change left it (the REST representation)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paysource.application import representations as rep
from paysource.application.disputes import SOURCE_ADMIN
from paysource.bootstrap import Container
from paysource.domain.dispute import Dispute, DisputeReason
from paysource.domain.meta import ActorKind, Meta
from paysource.webhook_signature import verify
from tests.integration.test_webhook_delivery import Receiver, WebhookWorld, open_world


@pytest.fixture
def world(container: Container) -> Iterator[WebhookWorld]:
    with open_world(container) as opened:
        yield opened


@pytest.mark.parametrize("won", [True, False])
def test_a_dispute_sends_signed_webhooks_through_its_lifecycle(
    world: WebhookWorld, won: bool
) -> None:
    with Receiver() as receiver:
        _, secret = world.register(receiver.url, ["dispute.*"])
        payment_id = world.pay(amount=3_000)
        world.process()
        disputes = world.cell.disputes
        dispute = disputes.open_dispute(
            payment_id=payment_id,
            amount=None,
            reason=DisputeReason.FRAUDULENT,
            source=SOURCE_ADMIN,
            idempotency_key=None,
            request_hash="h",
            meta=Meta(ActorKind.ADMIN, "test"),
        ).value
        disputes.submit_evidence(
            merchant_id=world.merchant_id,
            dispute=dispute.id,
            evidence={"uncategorized_text": "delivered"},
            idempotency_key="evidence-1",
            request_hash="e",
            meta=world.meta(),
        )
        disputes.decide(
            dispute=dispute.id, won=won, outcome_reason="acquirer", meta=Meta(ActorKind.ADMIN, "t")
        )
        world.process()
        world.deliver_until(lambda: len(receiver.delivered()) == 3)

    events = [
        verify(r.body, r.headers["paysource-signature"], secret) for r in receiver.delivered()
    ]
    events.sort(key=lambda e: e["object_version"])
    last = "dispute.won" if won else "dispute.lost"
    assert [e["type"] for e in events] == ["dispute.created", "dispute.evidence_submitted", last]
    final = world.cell.store.get(dispute.id, Dispute)
    assert events[-1]["data"]["object"] == rep.dispute(final)
    assert events[0]["data"]["object"]["status"] == "needs_response"
    assert events[1]["data"]["object"]["evidence"] == {"uncategorized_text": "delivered"}
