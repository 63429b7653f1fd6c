"""The feed pages through 10,000 events with no gap and no duplicate, and a merchant's
pages (REST and GraphQL, by event id) hold every one of its events and none of another
merchant's (staff page by position).

The events are written in bulk (a few hundred new customers per transaction, two
merchants interleaved), so page boundaries fall across both merchants' events."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from paysource.application.eventlog import Follower, Wakeup, run_until_caught_up
from paysource.application.ids import Kind, decode
from paysource.application.webhooks.catalog import webhook_event_id
from paysource.bootstrap import Container
from paysource.config import Settings
from paysource.domain.customer import Customer
from paysource.domain.meta import ActorKind, Meta
from paysource.readmodels.catalog import build_projection
from paysource.readmodels.view import ProjectionHandler
from tests.graphql.helpers import Gql
from tests.helpers import Api, admin

TOTAL = 10_000
PER_SAVE = 500
FEED = (
    "query($after: String) { viewer { events(first: 100, after: $after) {"
    " nodes { id position merchant } pageInfo { hasNextPage endCursor } } } }"
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A few hundred pages a key, as fast as the test client sends them.
    return settings.model_copy(update={"rate_limit_per_s": 100_000})


def write_customers(container: Container, merchants: list[UUID]) -> None:
    """TOTAL events in all, two of every three for the first merchant."""
    cell = container.router.all()[0]
    owners = itertools.cycle([merchants[0], merchants[1], merchants[0]])
    for _ in range(TOTAL // PER_SAVE):
        batch = [
            Customer.create(
                customer_id=uuid4(),
                merchant_id=merchant,
                email=None,
                name="Ada",
                metadata={},
                request_hash="h",
                meta=Meta(ActorKind.MERCHANT, str(merchant)),
            )
            for merchant in itertools.islice(owners, PER_SAVE)
        ]
        cell.store.save(*batch)
    handler = ProjectionHandler(build_projection("events", cell.read.datastore))
    run_until_caught_up(Follower(cell.store, handler, wakeup=Wakeup(), batch_size=1000))


def rest_pages(api: Api) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        body = api.get("/v1/events", **params).json()
        seen.extend(body["data"])
        if not body["has_more"]:
            return seen
        last = body["data"][-1]
        params["starting_after"] = last.get("position", last["id"])


def graphql_pages(gql: Gql) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = gql(FEED, after=after)["viewer"]["events"]
        seen.extend(page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


def truth(container: Container) -> dict[int, tuple[UUID, str]]:
    """Every event's position → its merchant and id, from the event store itself."""
    cell = container.router.all()[0]
    found: dict[int, tuple[UUID, str]] = {}
    for position, event in cell.store.select(after=0, limit=TOTAL * 2):
        merchant = getattr(event, "merchant_id", None)
        if isinstance(event, Customer.Created) or type(event).__qualname__ == "Merchant.Registered":
            event_id = webhook_event_id(event.originator_id, event.originator_version)
            found[position] = (merchant or event.originator_id, f"evt_{event_id.hex}")
    return found


def test_the_feed_pages_through_ten_thousand_events_without_gap_duplicate_or_leak(
    client: TestClient, container: Container
) -> None:
    staff = admin(client)
    made = [staff.post("/v1/merchants", {"name": name}).json() for name in ("A", "B")]
    apis = [Api(client, body["api_key"]) for body in made]
    ids = [decode(Kind.MERCHANT, body["id"]) for body in made]
    write_customers(container, ids)
    expected = truth(container)
    assert len(expected) >= TOTAL

    def check(pages: Callable[[], list[dict[str, Any]]], merchant: UUID | None) -> None:
        events = pages()
        got = [e["id"] for e in events]
        assert len(got) == len(set(got)), "a duplicate"
        in_order = [expected[p] for p in sorted(expected)]
        wanted = [i for m, i in in_order if merchant in (None, m)]
        assert got == wanted, "a gap, another merchant's event, or out of order"
        shown = [e.get("position") for e in events]  # None: absent (REST) or null
        assert shown == (sorted(expected) if merchant is None else [None] * len(events))

    for api, merchant in zip(apis, ids, strict=True):
        check(lambda api=api: rest_pages(api), merchant)
        check(lambda api=api: graphql_pages(Gql(client, api.key)), merchant)
    auditor = Api(client, staff.post("/v1/api_keys", {"role": "auditor"}).json()["api_key"])
    check(lambda: rest_pages(auditor), None)
    check(lambda: graphql_pages(Gql(client, auditor.key)), None)
