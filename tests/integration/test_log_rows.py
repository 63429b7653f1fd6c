"""The log as rebuilds and each worker's tail read it (`EventStore.select_rows`, in binary
into named tuples) is the log as eventsourcing's `select_notifications` reads it: the
same rows, in the same order, over any range, limit and topics, decoding to equal events
(personal data unsealed alike)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paysource.application.event_rows import LogRow
from paysource.application.eventlog import EventStore
from paysource.bootstrap import Container
from tests.helpers import admin, drain, new_key


@pytest.fixture
def store(client: TestClient, container: Container) -> EventStore:
    """A log of two merchants' payments, a refund and customers (sealed personal data)."""
    for name in ("Acme", "Globex"):
        merchant = admin(client).merchant(name)
        customer = merchant.post(
            "/v1/customers", {"email": "ada@example.com", "name": "Ada"}, Idempotency_Key=new_key()
        )
        assert customer.status_code in (200, 201), customer.text
        paid = [merchant.pay(1000 + n).json()["id"] for n in range(4)]
        merchant.pay(700, source="tok_decline")
        drain(container)
        refund = merchant.post(
            "/v1/refunds", {"payment": paid[0], "amount": 300}, Idempotency_Key=new_key()
        )
        assert refund.status_code == 202, refund.text
    drain(container)
    return container.router.all()[0].store


def fields(row: Any) -> tuple[Any, ...]:
    return (row.id, row.originator_id, row.originator_version, row.topic, bytes(row.state))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    after=st.integers(min_value=-1, max_value=80),
    limit=st.integers(min_value=1, max_value=30),
    topic_picks=st.lists(st.integers(min_value=0, max_value=40), max_size=4),
)
def test_select_rows_returns_what_select_notifications_does(
    store: EventStore, after: int, limit: int, topic_picks: list[int]
) -> None:
    every = store.recorder.select_notifications(start=0, limit=1000, inclusive_of_start=False)
    assert len(every) > 40
    known = sorted({n.topic for n in every})
    topics = sorted({known[pick % len(known)] for pick in topic_picks})

    rows = store.select_rows(after=after, limit=limit, topics=topics)
    expected = store.recorder.select_notifications(
        start=after, limit=limit, topics=topics, inclusive_of_start=False
    )

    assert all(isinstance(row, LogRow) for row in rows)
    assert [fields(row) for row in rows] == [fields(n) for n in expected]
    assert [store.decode(row) for row in rows] == [store.decode(n) for n in expected]


def test_personal_data_decodes_unsealed_from_a_row(store: EventStore) -> None:
    rows = store.select_rows(after=0, limit=1000, topics=())
    customers = [store.decode(row) for row in rows if row.topic.endswith("Customer.Created")]
    assert len(customers) == 2
    assert {getattr(event, "email", None) for event in customers} == {"ada@example.com"}
