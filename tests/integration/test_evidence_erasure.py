"""A dispute's evidence quotes the customer: its personal fields are stored sealed under
the dispute's key, read back plain, and erasing the customer erases them from the log,
the API, webhook bodies, Redis and rebuilt read models (docs/audit.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paysource.adapters.postgres.datastore import eventsourcing_env
from paysource.application import representations as rep
from paysource.application.disputes import DisputeService
from paysource.application.eventlog import EventStore
from paysource.application.fastpath import Answer
from paysource.application.idempotency import fingerprint
from paysource.application.ids import Kind, decode
from paysource.bootstrap import Cell, Container
from paysource.domain.dispute import Dispute
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.personal import ERASED
from paysource.entrypoints.http.dispute_inputs import EvidenceIn
from paysource.entrypoints.http.rest.deps import digest_of
from paysource.readmodels.catalog import PROJECTIONS
from paysource.readmodels.maintenance import rebuild, verify
from tests.helpers import Api, admin, bearer, drain, new_key
from tests.integration.test_erasure import found_in, pg_dump, redis_contents, run_outbox

NAME = "Ottoline Evidenza-Marchbanks"
EMAIL = "ottoline.evidenza@shred.example"
QUOTE = "Ottoline wrote on 3 May: the parcel came, thank you"
TRACKING = "1ZEVIDENZA0000042"
POLICY = "Refunds within 30 days of delivery"  # the merchant's own text: stays readable
EVIDENCE = {
    "customer_name": NAME,
    "customer_email": EMAIL,
    "customer_communication": QUOTE,
    "shipping_tracking": TRACKING,
    "refund_policy": POLICY,
}
SECRETS = (NAME, EMAIL, QUOTE, TRACKING)
SECRET_FIELDS = ("customer_name", "customer_email", "customer_communication", "shipping_tracking")


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.all()[0]


def disputed(client: TestClient, container: Container, merchant: Api) -> tuple[str, str]:
    """A customer and the dispute of a captured payment of theirs."""
    created = merchant.post("/v1/customers", {"name": "C"}, Idempotency_Key=new_key())
    customer = created.json()["id"]
    payment = merchant.pay(4_000, customer=customer).json()["id"]
    drain(container)
    opened = admin(client).post(
        "/v1/disputes", {"payment": payment, "reason": "fraudulent"}, Idempotency_Key=new_key()
    )
    assert opened.status_code == 201, opened.text
    return customer, opened.json()["id"]


def disputed_with_evidence(
    client: TestClient, container: Container, merchant: Api
) -> tuple[str, str]:
    """A customer, a captured payment of theirs, its dispute answered with EVIDENCE."""
    customer, dispute = disputed(client, container, merchant)
    answered = merchant.post(
        f"/v1/disputes/{dispute}/evidence", EVIDENCE, Idempotency_Key=new_key()
    )
    assert answered.status_code == 200, answered.text
    return customer, dispute


def stored_state(cell: Cell, dispute: str) -> bytes:
    with cell.read.datastore.transaction() as curs:
        rows = curs.execute(
            "SELECT state FROM paysource_events WHERE originator_id = %s",
            (decode(Kind.DISPUTE, dispute),),
        ).fetchall()
    return b"".join(bytes(row["state"]) for row in rows)


def webhook_bodies(cell: Cell, dispute: str) -> list[dict[str, Any]]:
    with cell.read.datastore.transaction() as curs:
        rows = curs.execute(
            "SELECT payload FROM webhook_events WHERE object_id = %s ORDER BY object_version",
            (decode(Kind.DISPUTE, dispute),),
        ).fetchall()
    return [json.loads(row["payload"]) for row in rows]


def test_evidence_is_stored_sealed_and_reads_back_as_sent(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    _, dispute = disputed_with_evidence(client, container, merchant)

    stored = stored_state(cell, dispute)

    assert [s for s in SECRETS if s.encode() in stored] == []
    assert POLICY.encode() in stored
    assert merchant.get(f"/v1/disputes/{dispute}").json()["evidence"] == EVIDENCE


def test_erasing_the_customer_erases_its_disputes_evidence_everywhere(
    client: TestClient, container: Container, cell: Cell, database_url: str, redis_url: str
) -> None:
    merchant = admin(client).merchant()
    hook = merchant.post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/h", "events": ["*"]})
    assert hook.status_code == 201, hook.text
    customer, dispute = disputed_with_evidence(client, container, merchant)
    drain(container)
    run_outbox(container, cell)
    sent = [b for b in webhook_bodies(cell, dispute) if b["type"] == "dispute.evidence_submitted"]
    assert sent[0]["data"]["object"]["evidence"] == EVIDENCE  # sent plain, before erasure

    erased = client.delete(f"/v1/customers/{customer}", headers=bearer(merchant.key))
    drain(container)
    run_outbox(container, cell)

    assert erased.status_code == 200, erased.text
    shown = {**EVIDENCE, **dict.fromkeys(SECRET_FIELDS, ERASED)}
    assert merchant.get(f"/v1/disputes/{dispute}").json()["evidence"] == shown
    history = merchant.get(f"/v1/disputes/{dispute}/events").json()["data"]
    assert [e["data"]["evidence"] for e in history if "evidence" in e["data"]] == [shown]
    assert [b["data"]["object"].get("evidence") for b in webhook_bodies(cell, dispute)][1:2] == [
        shown
    ]
    dump, cached = pg_dump(database_url), redis_contents(redis_url)
    assert [s for s in SECRETS if found_in(dump, s) or found_in(cached, s)] == []
    assert found_in(dump, POLICY)
    for name in sorted(PROJECTIONS):
        rebuild(name, cell.store, cell.read.datastore)
        assert verify(name, cell.store, cell.read.datastore) == [], name


def test_evidence_on_an_erased_customers_payment_takes_no_personal_fields(
    client: TestClient, container: Container, cell: Cell
) -> None:
    """A chargeback may come after the customer was erased: the merchant can still answer,
    without naming or quoting the customer."""
    merchant = admin(client).merchant()
    created = merchant.post("/v1/customers", {"name": "C"}, Idempotency_Key=new_key())
    customer = created.json()["id"]
    payment = merchant.pay(4_000, customer=customer).json()["id"]
    drain(container)
    assert client.delete(f"/v1/customers/{customer}", headers=bearer(merchant.key)).is_success
    opened = admin(client).post(
        "/v1/disputes", {"payment": payment, "reason": "fraudulent"}, Idempotency_Key=new_key()
    )
    dispute = opened.json()["id"]

    def answer(body: dict[str, str]) -> Any:
        return merchant.post(f"/v1/disputes/{dispute}/evidence", body, Idempotency_Key=new_key())

    refused = answer({"customer_name": NAME, "refund_policy": POLICY})
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/customer_erased")
    taken = answer({"refund_policy": POLICY})
    assert taken.status_code == 200, taken.text
    assert taken.json()["evidence"] == {"refund_policy": POLICY}
    assert NAME.encode() not in stored_state(cell, dispute)


def answered_before_sealing(container: Container, database_url: str, dispute: str, key: str) -> str:
    """EVIDENCE sent with `key` as the version before sealing kept it: plain in its event
    and, answer and body, in Redis. The time of the answer."""
    path = f"/v1/disputes/{dispute}/evidence"
    request_hash = fingerprint("POST", path, EvidenceIn(**EVIDENCE).fingerprint_body())
    digest = digest_of(key, container)
    legacy = EventStore(eventsourcing_env(database_url, pool_size=1, max_overflow=0))
    try:
        found = legacy.get(decode(Kind.DISPUTE, dispute), Dispute)
        assert found is not None
        answered = (
            DisputeService(legacy)
            .submit_evidence(
                merchant_id=found.merchant_id,
                dispute=found.id,
                evidence=EVIDENCE,
                idempotency_key=key,
                request_hash=request_hash,
                meta=Meta(ActorKind.MERCHANT, str(found.merchant_id), idempotency_key_hmac=digest),
            )
            .value
        )
    finally:
        legacy.close()
    assert digest is not None
    body = rep.dispute(answered)
    scope = str(found.merchant_id)
    container.fast_path.remember(
        scope=scope, key=digest, request_hash=request_hash, answer=Answer(200, body)
    )
    return rep.timestamp(answered.modified_on)


def test_evidence_from_before_sealing_is_erased_from_its_past_and_its_retries(
    client: TestClient, container: Container, database_url: str, redis_url: str
) -> None:
    """Its event keeps the plaintext (an append-only log), but no view of the dispute's
    past shows it once erased: the history, an `as_of` read, a retry with its key."""
    merchant = admin(client).merchant()
    customer, dispute = disputed(client, container, merchant)
    key = new_key()
    answered_at = answered_before_sealing(container, database_url, dispute, key)
    assert found_in(redis_contents(redis_url), NAME)  # as the earlier version left it
    drain(container)  # the erasure finds the dispute in the read models

    erased = client.delete(f"/v1/customers/{customer}", headers=bearer(merchant.key))
    history = merchant.get(f"/v1/disputes/{dispute}/events").json()["data"]
    then = merchant.get(f"/v1/disputes/{dispute}", as_of=answered_at)
    retried = merchant.post(f"/v1/disputes/{dispute}/evidence", EVIDENCE, Idempotency_Key=key)

    assert erased.status_code == 200, erased.text
    shown = {**EVIDENCE, **dict.fromkeys(SECRET_FIELDS, ERASED)}
    assert [e["data"]["evidence"] for e in history if "evidence" in e["data"]] == [shown]
    assert (then.status_code, then.json()["evidence"]) == (200, shown)
    assert (retried.status_code, retried.json()["evidence"]) == (200, shown)
    assert [s for s in SECRETS if found_in(redis_contents(redis_url), s)] == []
