"""Erasing a customer (crypto-shredding) leaves no plaintext of its personal data in
Postgres or Redis, while read models rebuild and verify and payments keep their amounts.

`pg_dump` writes bytea (the events' state) as hex, so the dump is searched for each
secret both as text and as hex: a plaintext event would show only in the second form.
"""

from __future__ import annotations

import subprocess
from typing import Any
from uuid import UUID

import pytest
import redis
from fastapi.testclient import TestClient

from devtools.localservices import find_pg_bin
from paysource.adapters.postgres.datastore import eventsourcing_env
from paysource.application.customers import CustomerService
from paysource.application.eventlog import EventStore, Follower, Wakeup, run_until_caught_up
from paysource.application.ids import Kind, decode, encode
from paysource.bootstrap import Cell, Container
from paysource.domain.meta import ActorKind, Meta
from paysource.domain.personal import ERASED
from paysource.readmodels.catalog import PROJECTIONS
from paysource.readmodels.maintenance import rebuild, verify
from tests.helpers import Api, admin, bearer, drain, new_key

NAME = "Quillon Erasmus-Vantablack"
NEW_NAME = "Quillon Renamed-Vantablack"
EMAIL = "quillon.erasmus@shred.example"
PHONE = "+1-555-0142-7319"
SECRETS = (NAME, NEW_NAME, EMAIL, PHONE)


@pytest.fixture
def cell(container: Container) -> Cell:
    return container.router.all()[0]


def pg_dump(database_url: str) -> str:
    command = [str(find_pg_bin() / "pg_dump"), "--no-owner", f"--dbname={database_url}"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def found_in(text: str, secret: str) -> bool:
    return secret in text or secret.encode().hex() in text


def redis_contents(url: str) -> str:
    """Every key and value in Redis, as text (whatever the value's type)."""
    client = redis.Redis.from_url(url)
    readers: dict[Any, Any] = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"list": lambda k: client.lrange(k, 0, -1),
        b"set": client.smembers,
        b"zset": lambda k: client.zrange(k, 0, -1),
    }
    parts = []
    for key in client.scan_iter(count=1000):
        read = readers.get(client.type(key))
        parts.append(f"{key!r}={read(key) if read else ''!r}")
    return "\n".join(parts)


def run_outbox(container: Container, cell: Cell) -> None:
    assert container.webhooks is not None
    outbox = container.webhooks.outbox(cell)
    run_until_caught_up(Follower(cell.store, outbox, wakeup=Wakeup()))


def customer_with_payments(merchant: Api) -> tuple[str, list[str]]:
    created = merchant.post(
        "/v1/customers",
        {"name": NAME, "email": EMAIL, "metadata": {"personal.phone": PHONE, "plan": "gold"}},
        Idempotency_Key=new_key(),
    )
    assert created.status_code == 201, created.text
    customer = created.json()["id"]
    updated = merchant.post(
        f"/v1/customers/{customer}", {"name": NEW_NAME}, Idempotency_Key=new_key()
    )
    assert updated.status_code == 200, updated.text
    payments = [merchant.pay(amount, customer=customer).json()["id"] for amount in (1234, 5678)]
    return customer, payments


def amounts(merchant: Api, payments: list[str]) -> list[tuple[Any, ...]]:
    shown = [merchant.get(f"/v1/payments/{p}").json() for p in payments]
    return [(p["id"], p["customer"], p["amount"], p["amount_captured"], p["fee"]) for p in shown]


def test_after_erasure_no_personal_data_remains_and_everything_else_still_works(
    client: TestClient, container: Container, cell: Cell, database_url: str, redis_url: str
) -> None:
    merchant = admin(client).merchant()
    hook = merchant.post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/h", "events": ["*"]})
    assert hook.status_code == 201, hook.text
    customer, payments = customer_with_payments(merchant)
    drain(container)
    run_outbox(container, cell)
    before = amounts(merchant, payments)
    with cell.read.datastore.transaction() as curs:
        queued = curs.execute("SELECT count(*) AS n FROM webhook_events").fetchone()
    assert queued is not None
    assert queued["n"] > 0  # the payments' webhooks are in the dump
    assert found_in(pg_dump(database_url), NEW_NAME)  # the read model, until erased

    erased = client.delete(f"/v1/customers/{customer}", headers=bearer(merchant.key))
    drain(container)
    run_outbox(container, cell)

    assert erased.status_code == 200, erased.text
    dump, cached = pg_dump(database_url), redis_contents(redis_url)
    assert [s for s in SECRETS if found_in(dump, s) or found_in(cached, s)] == []
    for name in sorted(PROJECTIONS):
        rebuild(name, cell.store, cell.read.datastore)
        assert verify(name, cell.store, cell.read.datastore) == [], name
    assert amounts(merchant, payments) == before
    shown = merchant.get(f"/v1/customers/{customer}").json()
    assert (shown["name"], shown["email"], shown["erased"]) == (ERASED, ERASED, True)
    assert shown["metadata"] == {"personal.phone": ERASED, "plan": "gold"}


def test_the_directory_read_model_shows_the_customer_erased_after_a_rebuild(
    client: TestClient, container: Container, cell: Cell
) -> None:
    merchant = admin(client).merchant()
    customer, _ = customer_with_payments(merchant)
    client.delete(f"/v1/customers/{customer}", headers=bearer(merchant.key))

    rebuild("directory", cell.store, cell.read.datastore)

    with cell.read.datastore.transaction() as curs:
        row = curs.execute(
            "SELECT name, email, metadata FROM customers WHERE id = %s",
            (decode(Kind.CUSTOMER, customer),),
        ).fetchone()
    assert row == {
        "name": ERASED,
        "email": ERASED,
        "metadata": {"personal.phone": ERASED, "plan": "gold"},
    }


def test_a_customer_created_before_sealing_is_erased_from_views_but_its_old_events_keep_it(
    client: TestClient, container: Container, cell: Cell, database_url: str
) -> None:
    """The documented limit: an append-only log cannot re-encrypt events written in
    plaintext before this change; erasure hides them everywhere but in those events."""
    merchant_id = _merchant_id(client)
    legacy = EventStore(eventsourcing_env(database_url, pool_size=1, max_overflow=0))
    try:
        created = CustomerService(legacy).create_customer(
            merchant_id=merchant_id,
            name=NAME,
            email=EMAIL,
            metadata={},
            idempotency_key=None,
            request_hash="h",
            meta=Meta(ActorKind.ADMIN, "test"),
        )
    finally:
        legacy.close()
    customer_id = created.value.id

    cell.customers.erase_customer(
        merchant_id=merchant_id, customer_id=customer_id, meta=Meta(ActorKind.ADMIN, "test")
    )
    drain(container)

    assert (
        cell.customers.get_customer(merchant_id=merchant_id, customer_id=customer_id).name == ERASED
    )
    dump = pg_dump(database_url)
    assert NAME not in dump  # the read model: erased
    assert NAME.encode().hex() in dump  # the pre-sealing event: still there
    # ... which no view of the customer's past shows (application/erased_history.py).
    path = f"/v1/customers/{encode(Kind.CUSTOMER, customer_id)}"
    history = admin(client).get(f"{path}/events").json()["data"]
    assert [(e["data"]["name"], e["data"]["email"]) for e in history[:1]] == [(ERASED, ERASED)]
    first = admin(client).get(path, as_of=created.value.created_on.isoformat()).json()
    assert (first["name"], first["email"], first["erased"]) == (ERASED, ERASED, False)


def _merchant_id(client: TestClient) -> UUID:
    response = admin(client).post("/v1/merchants", {"name": "Legacy"})
    return decode(Kind.MERCHANT, response.json()["id"])
